//! [`PackedRhs`]: the right-hand side of a matmul packed once into column panels, for weights
//! that are multiplied many times (`nn.Linear`).
//!
//! A GEMM kernel reads its right-hand side as narrow column panels, one sequential stream per
//! panel. Libraries such as `gemm` (and BLAS) copy the operand into that form on every call,
//! which a decoder pays once per weight per step: at a few dozen rows the copy, reading a
//! row-major weight from DRAM a panel's width at a time, costs about as much as the products.
//! Packing at load is what oneDNN's weight reorders and llama.cpp's CPU "repack" buffers do.
//!
//! **Layout.** A `[k, n]` matrix packed with panel width `w` is the contiguous tensor
//! `[⌈n / w⌉, k, w]`: panel `p` holds columns `p·w .. p·w + w` as a row-major `k × w` block,
//! and columns past `n` are zeros. Element `(r, c)` is at `(c / w)·k·w + r·w + c % w`. The
//! layout is the same for every backend; the width is the backend's ([`Backend::panel_width`]).

use crate::{Activation, Backend, Error, Result, Tensor};

/// A `[k, n]` matmul right-hand side packed into column panels (see the module docs), on the
/// backend and in the dtype of the matrix it was packed from.
#[derive(Clone, Debug)]
pub struct PackedRhs<B: Backend> {
    /// Contiguous `[⌈n / width⌉, k, width]`.
    panels: Tensor<B>,
    n: usize,
}

impl<B: Backend> PackedRhs<B> {
    /// Packs `rhs` (`[k, n]`, any layout: a transposed `[n, k]` `nn.Linear` weight is read in
    /// place) for its backend's panel kernel, or returns `Ok(None)` when the backend has none
    /// for `rhs`'s dtype ([`Backend::panel_width`]): keep the matrix and use
    /// [`Tensor::matmul_fused`] then.
    ///
    /// # Errors
    /// As [`PackedRhs::with_width`].
    pub fn new(rhs: &Tensor<B>) -> Result<Option<Self>> {
        match rhs.backend().panel_width(rhs.dtype()) {
            Some(width) => Self::with_width(rhs, width).map(Some),
            None => Ok(None),
        }
    }

    /// Packs `rhs` (`[k, n]`, any layout) into panels of `width` columns, whatever the backend
    /// prefers. [`Tensor::matmul_packed`] takes any width; only the backend's own reaches its
    /// packed kernel (conformance tests use others).
    ///
    /// # Errors
    /// [`Error::RankMismatch`] when `rhs` is not 2-D, [`Error::UnsupportedDType`] for an
    /// integer dtype, [`Error::InvalidArgument`] for a width of 0; the backend's errors.
    pub fn with_width(rhs: &Tensor<B>, width: usize) -> Result<Self> {
        let op = "pack_rhs";
        if rhs.rank() != 2 {
            return Err(Error::RankMismatch {
                op,
                expected: 2,
                shape: rhs.dims().to_vec(),
            });
        }
        rhs.check_float(op)?;
        if width == 0 {
            return Err(Error::invalid(op, "panel width 0"));
        }
        let (k, n) = (rhs.dims()[0], rhs.dims()[1]);
        let storage = rhs.backend().pack_panels(rhs, width)?;
        Ok(PackedRhs {
            panels: Tensor::from_storage(
                storage,
                &[n.div_ceil(width), k, width],
                rhs.dtype(),
                rhs.backend().clone(),
            ),
            n,
        })
    }

    /// Rows of the packed matrix (the matmul's depth).
    pub fn k(&self) -> usize {
        self.panels.dims()[1]
    }
    /// Columns of the packed matrix.
    pub fn n(&self) -> usize {
        self.n
    }
    /// Columns per panel.
    pub fn width(&self) -> usize {
        self.panels.dims()[2]
    }
    pub fn dtype(&self) -> crate::DType {
        self.panels.dtype()
    }
    pub fn backend(&self) -> &B {
        self.panels.backend()
    }
    /// The panels, contiguous `[⌈n / width⌉, k, width]`.
    pub fn panels(&self) -> &Tensor<B> {
        &self.panels
    }

    /// The matrix again, `[k, n]` (a copy: for the rare reader of a packed weight, e.g. a
    /// model that concatenates weights at load).
    ///
    /// # Errors
    /// The backend's.
    pub fn unpack(&self) -> Result<Tensor<B>> {
        unpack(&self.panels, self.n)
    }
}

/// `[⌈n / w⌉, k, w]` panels back to the `[k, n]` matrix (the default of
/// [`Backend::matmul_panels`], and [`PackedRhs::unpack`]).
pub(crate) fn unpack<B: Backend>(panels: &Tensor<B>, n: usize) -> Result<Tensor<B>> {
    let (p, k, w) = (panels.dims()[0], panels.dims()[1], panels.dims()[2]);
    panels
        .permute(&[1, 0, 2])?
        .contiguous()?
        .reshape(&[k, p * w])?
        .narrow(1, 0, n)
}

/// `act(lhs · unpack(panels) + bias)` through [`Tensor::matmul_fused`] (the default of
/// [`Backend::matmul_panels`], and the CPU's for dtypes and widths its kernel does not take).
pub(crate) fn matmul_unpacked<B: Backend>(
    lhs: &Tensor<B>,
    panels: &Tensor<B>,
    n: usize,
    bias: Option<&Tensor<B>>,
    activation: Option<Activation>,
) -> Result<B::Storage> {
    lhs.matmul_fused(&unpack(panels, n)?, bias, activation)?
        .into_contiguous_storage()
}

/// The packed storage of `rhs` (`[k, n]`) built from primitives: pad the columns with zeros to
/// whole panels, view as `[k, P, w]`, move the panel index first and copy (the default of
/// [`Backend::pack_panels`]).
pub(crate) fn pack_by_copies<B: Backend>(rhs: &Tensor<B>, width: usize) -> Result<B::Storage> {
    let (k, n) = (rhs.dims()[0], rhs.dims()[1]);
    let p = n.div_ceil(width);
    let pad = p * width - n;
    let padded = if pad > 0 {
        let zeros = Tensor::zeros(rhs.backend(), &[k, pad], rhs.dtype())?;
        Tensor::cat(&[rhs, &zeros], 1)?
    } else {
        rhs.contiguous()?
    };
    padded
        .reshape(&[k, p, width])?
        .permute(&[1, 0, 2])?
        .into_contiguous_storage()
}

impl<B: Backend> Tensor<B> {
    /// `act(self · rhs + bias)` with `rhs` packed once ([`PackedRhs`]): `self` `[..., k]`,
    /// `bias` `[n]`, result `[..., n]` in `self`'s dtype. The same product as
    /// [`Tensor::matmul_fused`] with the unpacked matrix, up to summation order; on the CPU in
    /// f32 it runs [`crate::cpu::ops::matmul_panels`].
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `self` does not end in `k` or `bias` is not `[n]`;
    /// [`Error::DTypeMismatch`] / [`Error::DeviceMismatch`] when the operands differ;
    /// [`Error::RankMismatch`] for a scalar `self`; the backend's errors.
    pub fn matmul_packed(
        &self,
        rhs: &PackedRhs<B>,
        bias: Option<&Self>,
        activation: Option<Activation>,
    ) -> Result<Self> {
        let op = "matmul_packed";
        self.check_same_device(op, &rhs.panels)?;
        self.check_same_dtype(op, &rhs.panels)?;
        self.check_float(op)?;
        let Some((&k, lead)) = self.dims().split_last() else {
            return Err(Error::RankMismatch {
                op,
                expected: 1,
                shape: vec![],
            });
        };
        if k != rhs.k() {
            return Err(Error::ShapeMismatch {
                op,
                lhs: self.dims().to_vec(),
                rhs: vec![rhs.k(), rhs.n()],
            });
        }
        let n = rhs.n();
        let bias = match bias {
            Some(b) => {
                self.check_same_device(op, b)?;
                self.check_same_dtype(op, b)?;
                if b.dims() != [n] {
                    return Err(Error::ShapeMismatch {
                        op: "matmul_packed bias",
                        lhs: vec![n],
                        rhs: b.dims().to_vec(),
                    });
                }
                Some(b.contiguous()?)
            }
            None => None,
        };
        let rows: usize = lead.iter().product();
        let lhs = self.reshape(&[rows, k])?;
        let storage =
            self.backend()
                .matmul_panels(&lhs, &rhs.panels, n, bias.as_ref(), activation)?;
        let mut dims = lead.to_vec();
        dims.push(n);
        Ok(Tensor::from_storage(
            storage,
            &dims,
            self.dtype(),
            self.backend().clone(),
        ))
    }
}
