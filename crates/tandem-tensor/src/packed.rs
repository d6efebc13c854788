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
    /// As [`PackedRhs::with_width`], for a dtype the backend packs (any other, integers
    /// included, gives `Ok(None)`).
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
    /// integer dtype, [`Error::InvalidArgument`] for a width of 0 or above [`MAX_PANEL_WIDTH`], or
    /// panels with more elements than fit in `usize`; the backend's errors.
    pub fn with_width(rhs: &Tensor<B>, width: usize) -> Result<Self> {
        check_pack(rhs, width)?;
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

/// Widest panel accepted. Kernels read panels of a few registers (16 or 32 f32 on the CPU); a
/// width beyond this is a mistake, and one of 2⁴⁰ columns would pad a single column into
/// terabytes before any arithmetic could overflow.
pub const MAX_PANEL_WIDTH: usize = 1024;

/// Elements of a `[k, n]` matrix packed in panels of `width` columns, `⌈n / width⌉ · k · width`.
///
/// # Errors
/// [`Error::InvalidArgument`] naming `op` for a width of 0 or a count past `usize`.
pub(crate) fn packed_elems(op: &'static str, k: usize, n: usize, width: usize) -> Result<usize> {
    if width == 0 || width > MAX_PANEL_WIDTH {
        return Err(Error::invalid(
            op,
            format!("panel width {width} is outside 1..={MAX_PANEL_WIDTH}"),
        ));
    }
    n.div_ceil(width)
        .checked_mul(k)
        .and_then(|e| e.checked_mul(width))
        .ok_or_else(|| {
            Error::invalid(
                op,
                format!("panels of {width} columns for a [{k}, {n}] matrix hold more elements than fit in usize"),
            )
        })
}

/// What [`Backend::pack_panels`] may assume, checked: a 2-D float `rhs` and a width whose
/// panels fit in memory's address space. Returns the packed length.
///
/// # Errors
/// [`Error::RankMismatch`], [`Error::UnsupportedDType`] or [`Error::InvalidArgument`] naming
/// `pack_rhs`.
pub(crate) fn check_pack<B: Backend>(rhs: &Tensor<B>, width: usize) -> Result<usize> {
    let op = "pack_rhs";
    if rhs.rank() != 2 {
        return Err(Error::RankMismatch {
            op,
            expected: 2,
            shape: rhs.dims().to_vec(),
        });
    }
    rhs.check_float(op)?;
    packed_elems(op, rhs.dims()[0], rhs.dims()[1], width)
}

/// What [`Backend::matmul_panels`] may assume, checked: `lhs` `[m, k]`, `panels`
/// `[⌈n / w⌉, k, w]` with `w ≥ 1` (an `n` that ends inside the last panel cannot be told from
/// the packed matrix's own: padding columns are zeros),
/// `bias` `[n]`, one device and one float dtype.
///
/// # Errors
/// [`Error::RankMismatch`], [`Error::ShapeMismatch`], [`Error::DTypeMismatch`],
/// [`Error::DeviceMismatch`] or [`Error::UnsupportedDType`] naming `matmul_packed`.
pub(crate) fn check_panels<B: Backend>(
    lhs: &Tensor<B>,
    panels: &Tensor<B>,
    n: usize,
    bias: Option<&Tensor<B>>,
) -> Result<()> {
    let op = "matmul_packed";
    for (t, rank) in [(lhs, 2), (panels, 3)] {
        if t.rank() != rank {
            return Err(Error::RankMismatch {
                op,
                expected: rank,
                shape: t.dims().to_vec(),
            });
        }
    }
    lhs.check_same_device(op, panels)?;
    lhs.check_same_dtype(op, panels)?;
    lhs.check_float(op)?;
    let (p, k, w) = (panels.dims()[0], panels.dims()[1], panels.dims()[2]);
    if lhs.dims()[1] != k || w == 0 || p != n.div_ceil(w) {
        return Err(Error::ShapeMismatch {
            op,
            lhs: lhs.dims().to_vec(),
            rhs: vec![p, k, w, n],
        });
    }
    if let Some(b) = bias {
        lhs.check_same_device(op, b)?;
        lhs.check_same_dtype(op, b)?;
        if b.dims() != [n] {
            return Err(Error::ShapeMismatch {
                op: "matmul_packed bias",
                lhs: vec![n],
                rhs: b.dims().to_vec(),
            });
        }
    }
    Ok(())
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
    check_panels(lhs, panels, n, bias)?;
    lhs.matmul_fused(&unpack(panels, n)?, bias, activation)?
        .into_contiguous_storage()
}

/// The packed storage of `rhs` (`[k, n]`) built from primitives: pad the columns with zeros to
/// whole panels, view as `[k, P, w]`, move the panel index first and copy (the default of
/// [`Backend::pack_panels`]).
pub(crate) fn pack_by_copies<B: Backend>(rhs: &Tensor<B>, width: usize) -> Result<B::Storage> {
    check_pack(rhs, width)?;
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
    /// [`Tensor::matmul_fused`] with the unpacked matrix, up to summation order; on the CPU, f32
    /// panels of a width one of [`crate::cpu::ops::matmul_panels`]' kernels reads run there,
    /// anything else through the unpacked matrix.
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
        let bias = self.bias_operand(op, "matmul_packed bias", bias, n)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CpuBackend, DType, Layout};
    use std::sync::Arc;

    fn t(v: &[f32], dims: &[usize]) -> Tensor<CpuBackend> {
        Tensor::from_slice(&CpuBackend, v, dims).expect("upload")
    }

    fn invalid(r: Result<impl std::fmt::Debug>, op: &str) {
        match r {
            Err(e) => assert!(e.to_string().contains(op), "{e} does not name {op}"),
            Ok(v) => panic!("expected an error naming {op}, got {v:?}"),
        }
    }

    #[test]
    fn widths_and_sizes_out_of_range_are_errors() {
        let w = t(&[1.0, 2.0, 3.0], &[3, 1]);
        for width in [0, MAX_PANEL_WIDTH + 1, 1 << 40, usize::MAX] {
            invalid(PackedRhs::with_width(&w, width), "pack_rhs");
        }
        // A count past usize at a legal width.
        let huge = Tensor::from_shared(
            Arc::new(w.storage().clone()),
            Layout::new(vec![usize::MAX / 2, 3], vec![0, 0], 0),
            DType::F32,
            CpuBackend,
        );
        invalid(PackedRhs::with_width(&huge, 4), "pack_rhs");
        invalid(PackedRhs::with_width(&t(&[1.0], &[1]), 4), "pack_rhs");
        let ints = Tensor::from_slice(&CpuBackend, &[1u32, 2], &[1, 2]).expect("upload");
        invalid(PackedRhs::with_width(&ints, 4), "pack_rhs");
        assert!(PackedRhs::new(&ints).expect("no width for u32").is_none());
    }

    #[test]
    fn backend_methods_called_directly_check_their_inputs() {
        let cpu = CpuBackend;
        let w = t(&(0..12).map(|v| v as f32).collect::<Vec<_>>(), &[3, 4]);
        invalid(cpu.pack_panels(&w, 0), "pack_rhs");
        invalid(cpu.pack_panels(&t(&[1.0, 2.0], &[2]), 4), "pack_rhs");
        let packed = PackedRhs::with_width(&w, 3).expect("pack");
        let x = t(&[1.0, 0.0, 2.0], &[1, 3]);
        // More columns than the panels hold, and panels of another rank. (An `n` inside the
        // last panel cannot be told from its zero padding: callers pass `PackedRhs::n`.)
        invalid(
            cpu.matmul_panels(&x, packed.panels(), 7, None, None),
            "matmul_packed",
        );
        invalid(cpu.matmul_panels(&x, &w, 4, None, None), "matmul_packed");
        invalid(
            cpu.matmul_panels(&t(&[1.0; 4], &[1, 4]), packed.panels(), 4, None, None),
            "matmul_packed",
        );
        // A hand-built bias whose storage is shorter than its layout says.
        let short = Tensor::from_shared(
            Arc::new(t(&[1.0, 2.0], &[2]).storage().clone()),
            Layout::new(vec![4], vec![1], 0),
            DType::F32,
            CpuBackend,
        );
        // (At width 3 no CPU kernel applies: the unpacked matmul reports the bias.)
        invalid(
            cpu.matmul_panels(&x, packed.panels(), 4, Some(&short), None),
            "bias of 4 values",
        );
        invalid(
            x.matmul_packed(&packed, Some(&short), None),
            "bias of 4 values",
        );
        let at_kernel_width = CpuBackend
            .panel_width(DType::F32)
            .map(|width| PackedRhs::with_width(&w, width).expect("pack"));
        if let Some(p) = &at_kernel_width {
            invalid(
                x.matmul_packed(p, Some(&short), None),
                "matmul_packed: bias",
            );
        }
        let y = t(&[1.0, 0.0, 2.0, 0.0, 0.0, 0.0], &[2, 3]);
        let wide = t(&(0..12).map(|v| v as f32).collect::<Vec<_>>(), &[3, 4]);
        invalid(y.matmul_fused(&wide, Some(&short), None), "matmul: bias");
        // The same calls with a good bias give x·w + b.
        let b = t(&[1.0, 1.0, 1.0, 1.0], &[4]);
        for p in std::iter::once(&packed).chain(&at_kernel_width) {
            let got = x.matmul_packed(p, Some(&b), None).expect("matmul_packed");
            assert_eq!(
                got.to_vec_f32().expect("read"),
                vec![17.0, 20.0, 23.0, 26.0]
            );
        }
    }
}
