use crate::layout::broadcast_shapes;
use crate::op::{BinaryOp, UnaryOp};
use crate::{Backend, DType, Result, Tensor};

impl<B: Backend> Tensor<B> {
    /// Applies an elementwise function (float tensors only).
    pub fn unary(&self, op: UnaryOp) -> Result<Self> {
        self.check_float("unary")?;
        let src = self.contiguous()?;
        let storage = self.backend().unary(op, &src)?;
        Ok(Tensor::from_storage(
            storage,
            self.dims(),
            self.dtype(),
            self.backend().clone(),
        ))
    }

    /// `self * mul + add`.
    pub fn affine(&self, mul: f32, add: f32) -> Result<Self> {
        self.unary(UnaryOp::Affine { mul, add })
    }
    pub fn scale(&self, factor: f32) -> Result<Self> {
        self.affine(factor, 0.0)
    }
    pub fn exp(&self) -> Result<Self> {
        self.unary(UnaryOp::Exp)
    }
    pub fn log(&self) -> Result<Self> {
        self.unary(UnaryOp::Log)
    }
    pub fn sqrt(&self) -> Result<Self> {
        self.unary(UnaryOp::Sqrt)
    }
    pub fn square(&self) -> Result<Self> {
        self.unary(UnaryOp::Square)
    }
    pub fn tanh(&self) -> Result<Self> {
        self.unary(UnaryOp::Tanh)
    }
    /// Exact (erf) GELU.
    pub fn gelu(&self) -> Result<Self> {
        self.unary(UnaryOp::Gelu)
    }
    /// Tanh-approximated GELU.
    pub fn gelu_tanh(&self) -> Result<Self> {
        self.unary(UnaryOp::GeluTanh)
    }
    /// `x · σ(1.702 x)` (OpenAI CLIP).
    pub fn quick_gelu(&self) -> Result<Self> {
        self.unary(UnaryOp::QuickGelu)
    }

    /// Elementwise `op` with numpy broadcasting; both operands must share a float dtype.
    pub fn binary(&self, op: BinaryOp, rhs: &Self) -> Result<Self> {
        self.check_same_device("binary", rhs)?;
        self.check_same_dtype("binary", rhs)?;
        self.check_float("binary")?;
        let dims = broadcast_shapes("binary", self.dims(), rhs.dims())?;
        let l = self.broadcast_as(&dims)?;
        let r = rhs.broadcast_as(&dims)?;
        let storage = self.backend().binary(op, &l, &r)?;
        Ok(Tensor::from_storage(
            storage,
            &dims,
            self.dtype(),
            self.backend().clone(),
        ))
    }

    pub fn add(&self, rhs: &Self) -> Result<Self> {
        self.binary(BinaryOp::Add, rhs)
    }
    pub fn sub(&self, rhs: &Self) -> Result<Self> {
        self.binary(BinaryOp::Sub, rhs)
    }
    pub fn mul(&self, rhs: &Self) -> Result<Self> {
        self.binary(BinaryOp::Mul, rhs)
    }
    pub fn div(&self, rhs: &Self) -> Result<Self> {
        self.binary(BinaryOp::Div, rhs)
    }
    pub fn maximum(&self, rhs: &Self) -> Result<Self> {
        self.binary(BinaryOp::Max, rhs)
    }
    pub fn minimum(&self, rhs: &Self) -> Result<Self> {
        self.binary(BinaryOp::Min, rhs)
    }

    /// Converts to `dtype` (a no-op view when it already has it).
    pub fn to_dtype(&self, dtype: DType) -> Result<Self> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        let src = self.contiguous()?;
        let storage = self.backend().cast(&src, dtype)?;
        Ok(Tensor::from_storage(
            storage,
            self.dims(),
            dtype,
            self.backend().clone(),
        ))
    }
}
