//! [`PackedRhs`]: the right-hand side of a matmul packed once into column panels, for weights
//! that are multiplied many times (`nn.Linear`).
//!
//! A GEMM kernel reads its right-hand side as narrow column panels, one sequential stream per
//! panel. Libraries such as `gemm` (and BLAS) copy the operand into that form on every call,
//! which a decoder pays once per weight per step: at a few dozen rows the copy, reading a
//! row-major weight from DRAM a panel's width at a time, costs about as much as the products.
//! Packing at load is what oneDNN's weight reorders and llama.cpp's CPU "repack" buffers do.
//!
//! **Layout** ([`PanelLayout`]: width `w`, depth group `g`, depth multiple `d`). A `[k, n]`
//! matrix is padded with zero rows to a depth `K = ⌈k / d⌉·d` and with zero columns to
//! `P = ⌈n / w⌉` whole panels, and stored as the contiguous tensor `[P, K / g, w, g]`: panel
//! `p` holds columns `p·w .. p·w + w`, and each of its rows holds `g` consecutive depths of
//! every column side by side. Element `(r, c)` is at
//! `((c / w)·K + (r / g)·g)·w + (c % w)·g + r % g`.
//!
//! With `g = d = 1` that is a row-major `k × w` block per panel (the CPU's f32 kernels). With
//! `g = 2` each panel row holds `w` bf16 pairs `(B[2q][c], B[2q+1][c])`: the "VNNI" operand of
//! `VDPBF16PS` and the B tile of AMX's `TDPBF16PS` (Intel SDM vol. 2), whose 32-deep steps
//! want `d = 32`. The layout is the same for every backend; its parameters are the backend's
//! ([`Backend::panel_layout`]).

use crate::{Activation, Backend, Error, Result, Tensor};

/// How a backend's panel kernel reads a packed right-hand side (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PanelLayout {
    /// Columns per panel, `w` (1 ..= [`MAX_PANEL_WIDTH`]).
    pub width: usize,
    /// Consecutive depths stored side by side for each column, `g` (1 ..= 16): 1 for plain
    /// row-major panels, 2 for bf16 pairs.
    pub depth_group: usize,
    /// The depth is padded with zero rows to a multiple of this, `d` (a multiple of `g`,
    /// at most [`MAX_PANEL_WIDTH`]): a kernel's depth step.
    pub depth_multiple: usize,
}

impl PanelLayout {
    /// Row-major panels of `width` columns, the depth unpadded (`g = d = 1`).
    pub const fn plain(width: usize) -> Self {
        PanelLayout {
            width,
            depth_group: 1,
            depth_multiple: 1,
        }
    }

    /// The packed tensor's dims for a `[k, n]` matrix, `[⌈n / w⌉, K / g, w, g]` with
    /// `K = ⌈k / d⌉·d` (what [`Backend::pack_panels`] returns).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming `pack_rhs` for a parameter out of range (see the
    /// fields) or a padded depth past `usize`.
    pub fn dims(&self, k: usize, n: usize) -> Result<[usize; 4]> {
        self.check("pack_rhs")?;
        let depth = k
            .div_ceil(self.depth_multiple)
            .checked_mul(self.depth_multiple)
            .ok_or_else(|| {
                Error::invalid(
                    "pack_rhs",
                    format!("depth {k} padded by {self:?} overflows"),
                )
            })?;
        Ok([
            n.div_ceil(self.width),
            depth / self.depth_group,
            self.width,
            self.depth_group,
        ])
    }

    /// Where element `(r, c)` of a `k`-deep matrix lies in its packed form (module docs), for
    /// a layout [`PanelLayout::dims`] accepted (unchecked: every parameter is at least 1). The
    /// tests' statement of the layout.
    #[cfg(test)]
    pub(crate) fn index(&self, k: usize, r: usize, c: usize) -> usize {
        let (w, g, d) = (self.width, self.depth_group, self.depth_multiple);
        ((c / w) * k.div_ceil(d) * d + (r / g) * g) * w + (c % w) * g + r % g
    }

    /// # Errors
    /// [`Error::InvalidArgument`] naming `op` for a parameter out of range.
    fn check(&self, op: &'static str) -> Result<()> {
        let PanelLayout {
            width,
            depth_group: g,
            depth_multiple: d,
        } = *self;
        if width == 0 || width > MAX_PANEL_WIDTH {
            return Err(Error::invalid(
                op,
                format!("panel width {width} is outside 1..={MAX_PANEL_WIDTH}"),
            ));
        }
        if !(1..=16).contains(&g) || d == 0 || d > MAX_PANEL_WIDTH || d % g != 0 {
            return Err(Error::invalid(
                op,
                format!(
                    "depth group {g} and depth multiple {d}: the group must be 1..=16 and the \
                     multiple a multiple of it up to {MAX_PANEL_WIDTH}"
                ),
            ));
        }
        Ok(())
    }
}

/// A `[k, n]` matmul right-hand side packed into column panels (see the module docs), on the
/// backend and in the dtype of the matrix it was packed from.
#[derive(Clone, Debug)]
pub struct PackedRhs<B: Backend> {
    /// Contiguous `[⌈n / w⌉, K / g, w, g]` (possibly at an offset in its storage).
    panels: Tensor<B>,
    layout: PanelLayout,
    k: usize,
    n: usize,
}

impl<B: Backend> PackedRhs<B> {
    /// Packs `rhs` (`[k, n]`, any layout: a transposed `[n, k]` `nn.Linear` weight is read in
    /// place) for its backend's panel kernel, or returns `Ok(None)` when the backend has none
    /// for `rhs`'s dtype ([`Backend::panel_layout`]): keep the matrix and use
    /// [`Tensor::matmul_fused`] then.
    ///
    /// # Errors
    /// As [`PackedRhs::with_layout`], for a dtype the backend packs (any other, integers
    /// included, gives `Ok(None)`).
    pub fn new(rhs: &Tensor<B>) -> Result<Option<Self>> {
        match rhs.backend().panel_layout(rhs.dtype()) {
            Some(layout) => Self::with_layout(rhs, layout).map(Some),
            None => Ok(None),
        }
    }

    /// Packs `rhs` (`[k, n]`, any layout) into plain panels of `width` columns
    /// ([`PanelLayout::plain`]).
    ///
    /// # Errors
    /// As [`PackedRhs::with_layout`].
    pub fn with_width(rhs: &Tensor<B>, width: usize) -> Result<Self> {
        Self::with_layout(rhs, PanelLayout::plain(width))
    }

    /// Packs `rhs` (`[k, n]`, any layout) in `layout`, whatever the backend prefers.
    /// [`Tensor::matmul_packed`] takes any layout; only the backend's own reaches its packed
    /// kernel (conformance tests use others).
    ///
    /// # Errors
    /// [`Error::RankMismatch`] when `rhs` is not 2-D, [`Error::UnsupportedDType`] for an
    /// integer dtype, [`Error::InvalidArgument`] for a layout parameter out of range
    /// ([`PanelLayout`]'s fields), panels with more elements than fit in `usize`, or packed
    /// panels of another shape than `layout` gives (a backend's bug); the backend's errors.
    pub fn with_layout(rhs: &Tensor<B>, layout: PanelLayout) -> Result<Self> {
        check_pack(rhs, layout)?;
        let (k, n) = (rhs.dims()[0], rhs.dims()[1]);
        let panels = rhs.backend().pack_panels(rhs, layout)?;
        let dims = layout.dims(k, n)?;
        if panels.dims() != dims
            || !panels.layout().is_contiguous()
            || panels.dtype() != rhs.dtype()
        {
            return Err(Error::invalid(
                "pack_rhs",
                format!(
                    "the backend packed {:?} {} (contiguous: {}) for contiguous {dims:?} {}",
                    panels.dims(),
                    panels.dtype(),
                    panels.layout().is_contiguous(),
                    rhs.dtype()
                ),
            ));
        }
        Ok(PackedRhs {
            panels,
            layout,
            k,
            n,
        })
    }

    /// Rows of the packed matrix (the matmul's depth), before padding.
    pub fn k(&self) -> usize {
        self.k
    }
    /// Columns of the packed matrix.
    pub fn n(&self) -> usize {
        self.n
    }
    /// Columns per panel.
    pub fn width(&self) -> usize {
        self.layout.width
    }
    /// The layout the panels are in.
    pub fn layout(&self) -> PanelLayout {
        self.layout
    }
    pub fn dtype(&self) -> crate::DType {
        self.panels.dtype()
    }
    pub fn backend(&self) -> &B {
        self.panels.backend()
    }
    /// The panels, contiguous `[⌈n / w⌉, K / g, w, g]` ([`PanelLayout::dims`]).
    pub fn panels(&self) -> &Tensor<B> {
        &self.panels
    }

    /// The matrix again, `[k, n]` (a copy: for the rare reader of a packed weight, e.g. a
    /// model that concatenates weights at load).
    ///
    /// # Errors
    /// The backend's.
    pub fn unpack(&self) -> Result<Tensor<B>> {
        let [p, kg, w, g] = self.layout.dims(self.k, self.n)?;
        self.panels
            .permute(&[1, 3, 0, 2])?
            .contiguous()?
            .reshape(&[kg * g, p * w])?
            .narrow(0, 0, self.k)?
            .narrow(1, 0, self.n)
    }
}

/// Widest panel (and largest depth multiple) accepted. Kernels read panels of a few registers
/// (16 or 32 columns on the CPU); a width beyond this is a mistake, and one of 2⁴⁰ columns
/// would pad a single column into terabytes before any arithmetic could overflow.
pub const MAX_PANEL_WIDTH: usize = 1024;

/// What [`Backend::pack_panels`] may assume, checked: a 2-D float `rhs` and a layout whose
/// panels fit in memory's address space. Returns the packed length.
///
/// # Errors
/// [`Error::RankMismatch`], [`Error::UnsupportedDType`] or [`Error::InvalidArgument`] naming
/// `pack_rhs`.
pub(crate) fn check_pack<B: Backend>(rhs: &Tensor<B>, layout: PanelLayout) -> Result<usize> {
    let op = "pack_rhs";
    if rhs.rank() != 2 {
        return Err(Error::RankMismatch {
            op,
            expected: 2,
            shape: rhs.dims().to_vec(),
        });
    }
    rhs.check_float(op)?;
    let (k, n) = (rhs.dims()[0], rhs.dims()[1]);
    layout
        .dims(k, n)?
        .iter()
        .try_fold(1usize, |len, &d| len.checked_mul(d))
        .ok_or_else(|| {
            Error::invalid(
                op,
                format!("{layout:?} for a [{k}, {n}] matrix holds more elements than fit in usize"),
            )
        })
}

/// What [`Backend::matmul_panels`] may assume, checked: `lhs` `[m, k]` with `rhs`'s `k`, `bias`
/// `[n]`, one device and one float dtype (the panels themselves were checked when packed).
///
/// # Errors
/// [`Error::RankMismatch`], [`Error::ShapeMismatch`], [`Error::DTypeMismatch`],
/// [`Error::DeviceMismatch`] or [`Error::UnsupportedDType`] naming `matmul_packed`.
pub(crate) fn check_panels<B: Backend>(
    lhs: &Tensor<B>,
    rhs: &PackedRhs<B>,
    bias: Option<&Tensor<B>>,
) -> Result<()> {
    let op = "matmul_packed";
    if lhs.rank() != 2 {
        return Err(Error::RankMismatch {
            op,
            expected: 2,
            shape: lhs.dims().to_vec(),
        });
    }
    lhs.check_same_device(op, &rhs.panels)?;
    lhs.check_same_dtype(op, &rhs.panels)?;
    lhs.check_float(op)?;
    if lhs.dims()[1] != rhs.k {
        return Err(Error::ShapeMismatch {
            op,
            lhs: lhs.dims().to_vec(),
            rhs: vec![rhs.k, rhs.n],
        });
    }
    if let Some(b) = bias {
        lhs.check_same_device(op, b)?;
        lhs.check_same_dtype(op, b)?;
        if b.dims() != [rhs.n] {
            return Err(Error::ShapeMismatch {
                op: "matmul_packed bias",
                lhs: vec![rhs.n],
                rhs: b.dims().to_vec(),
            });
        }
    }
    Ok(())
}

/// `act(lhs · unpack(rhs) + bias)` through [`Tensor::matmul_fused`] (the default of
/// [`Backend::matmul_panels`], and the CPU's for dtypes and layouts its kernels do not take).
pub(crate) fn matmul_unpacked<B: Backend>(
    lhs: &Tensor<B>,
    rhs: &PackedRhs<B>,
    bias: Option<&Tensor<B>>,
    activation: Option<Activation>,
) -> Result<B::Storage> {
    check_panels(lhs, rhs, bias)?;
    lhs.matmul_fused(&rhs.unpack()?, bias, activation)?
        .into_contiguous_storage()
}

/// The packed panels of `rhs` (`[k, n]`) built from primitives: pad with zero rows and columns
/// to `[K, P·w]`, view as `[K / g, g, P, w]`, move the panel index first and the group last,
/// and copy (the default of [`Backend::pack_panels`]).
pub(crate) fn pack_by_copies<B: Backend>(
    rhs: &Tensor<B>,
    layout: PanelLayout,
) -> Result<Tensor<B>> {
    check_pack(rhs, layout)?;
    let (k, n) = (rhs.dims()[0], rhs.dims()[1]);
    let [p, kg, w, g] = layout.dims(k, n)?;
    let zeros = |dims: &[usize]| Tensor::zeros(rhs.backend(), dims, rhs.dtype());
    let mut padded = rhs.clone();
    if p * w > n {
        padded = Tensor::cat(&[&padded, &zeros(&[k, p * w - n])?], 1)?;
    }
    if kg * g > k {
        padded = Tensor::cat(&[&padded, &zeros(&[kg * g - k, p * w])?], 0)?;
    }
    padded
        .contiguous()?
        .reshape(&[kg, g, p, w])?
        .permute(&[2, 0, 3, 1])?
        .contiguous()
}

impl<B: Backend> Tensor<B> {
    /// `act(self · rhs + bias)` with `rhs` packed once ([`PackedRhs`]): `self` `[..., k]`,
    /// `bias` `[n]`, result `[..., n]` in `self`'s dtype. The same product as
    /// [`Tensor::matmul_fused`] with the unpacked matrix, up to summation order. On the CPU,
    /// plain f32 panels of a width one of [`crate::cpu::ops::matmul_panels`]' kernels reads run
    /// there, bf16 panels in [`crate::cpu::ops::gemm_bf16::PANEL_LAYOUT`] on the bf16 kernels
    /// (where the CPU has them), anything else through the unpacked matrix.
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
        let storage = self
            .backend()
            .matmul_panels(&lhs, rhs, bias.as_ref(), activation)?;
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
    fn layouts_place_every_element_and_zero_the_padding() {
        // A 5 × 7 matrix (transposed view of [7, 5], as a linear weight) with element
        // (r, c) = 10·r + c + 1, so that no element is 0.
        let wt = t(
            &(0..35)
                .map(|i| (10 * (i % 5) + i / 5 + 1) as f32)
                .collect::<Vec<_>>(),
            &[7, 5],
        )
        .transpose(0, 1)
        .expect("view");
        let layouts = [
            PanelLayout::plain(3),
            PanelLayout {
                width: 4,
                depth_group: 2,
                depth_multiple: 4,
            },
            PanelLayout {
                width: 32,
                depth_group: 2,
                depth_multiple: 32,
            },
        ];
        for layout in layouts {
            for packed in [
                PackedRhs::with_layout(&wt, layout).expect("pack"),
                PackedRhs {
                    panels: pack_by_copies(&wt, layout).expect("pack by copies"),
                    layout,
                    k: 5,
                    n: 7,
                },
            ] {
                assert_eq!(packed.panels().dims(), layout.dims(5, 7).expect("dims"));
                let v = packed.panels().to_vec_f32().expect("read");
                let mut want = vec![0f32; v.len()];
                for r in 0..5 {
                    for c in 0..7 {
                        want[layout.index(5, r, c)] = (10 * r + c + 1) as f32;
                    }
                }
                assert_eq!(v, want, "{layout:?}");
                let back = packed
                    .unpack()
                    .and_then(|m| m.to_vec_f32())
                    .expect("unpack");
                assert_eq!(back, wt.to_vec_f32().expect("read"), "{layout:?}");
            }
        }
        // Depth pairs side by side: (r, c) = (1, 0) right after (0, 0); (2, 0) a row later.
        let g2 = layouts[1];
        assert_eq!((g2.index(5, 1, 0), g2.index(5, 2, 0)), (1, 8));
        assert_eq!((g2.index(5, 0, 4), g2.index(5, 0, 1)), (32, 2));
    }

    #[test]
    fn layout_parameters_out_of_range_are_errors() {
        let w = t(&[1.0, 2.0, 3.0], &[3, 1]);
        for (g, d) in [(0, 1), (2, 3), (17, 17), (2, 0), (1, MAX_PANEL_WIDTH + 1)] {
            let layout = PanelLayout {
                width: 4,
                depth_group: g,
                depth_multiple: d,
            };
            invalid(PackedRhs::with_layout(&w, layout), "pack_rhs");
            invalid(layout.dims(3, 1), "pack_rhs");
        }
        invalid(PanelLayout::plain(0).dims(3, 1), "pack_rhs");
        let huge = PanelLayout {
            width: 1,
            depth_group: 1,
            depth_multiple: MAX_PANEL_WIDTH,
        };
        invalid(huge.dims(usize::MAX - 1, 1), "pack_rhs");
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
        invalid(cpu.pack_panels(&w, PanelLayout::plain(0)), "pack_rhs");
        invalid(
            cpu.pack_panels(&t(&[1.0, 2.0], &[2]), PanelLayout::plain(4)),
            "pack_rhs",
        );
        let packed = PackedRhs::with_width(&w, 3).expect("pack");
        let x = t(&[1.0, 0.0, 2.0], &[1, 3]);
        // A left side of another depth or rank.
        invalid(
            cpu.matmul_panels(&t(&[1.0; 4], &[1, 4]), &packed, None, None),
            "matmul_packed",
        );
        invalid(
            cpu.matmul_panels(&t(&[1.0; 3], &[3]), &packed, None, None),
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
            cpu.matmul_panels(&x, &packed, Some(&short), None),
            "bias of 4 values",
        );
        invalid(
            x.matmul_packed(&packed, Some(&short), None),
            "bias of 4 values",
        );
        let at_kernel_width = CpuBackend
            .panel_layout(DType::F32)
            .map(|layout| PackedRhs::with_layout(&w, layout).expect("pack"));
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
