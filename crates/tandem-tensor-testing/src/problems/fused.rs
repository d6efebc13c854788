//! The fused matmul epilogue `act(x·w + bias)` through `matmul_fused`, `linear` (weight
//! `[out, in]` used through a transposed view) and `matmul_packed` (weight packed into column
//! panels in the backend's layout, or in another), with every activation.

use super::check_float;
use crate::input::{arb_float_dtype, arb_size, Dist, Input};
use crate::reference::{layout, matmul};
use crate::{run_problem, Tolerance};
use proptest::prelude::*;
use tandem_tensor::{Activation, Backend, DType, PackedRhs, PanelLayout};

/// How the product is asked for.
#[derive(Clone, Copy, Debug)]
pub enum Form {
    /// `linear(x, w[n, k])`.
    Linear,
    /// `matmul_fused(x, w[k, n])`.
    Matmul,
    /// `matmul_packed(x, PackedRhs(w[k, n]))` with panels in this layout; `None`: the
    /// backend's own ([`Backend::panel_layout`]), or plain panels of 16 where it has none.
    Packed(Option<PanelLayout>),
}

#[derive(Clone, Debug)]
pub struct Problem {
    pub dtype: DType,
    pub form: Form,
    pub x: Input,
    pub w: Input,
    pub bias: Option<Input>,
    pub act: Option<Activation>,
}

const ACTS: [Activation; 6] = [
    Activation::Gelu,
    Activation::GeluTanh,
    Activation::QuickGelu,
    Activation::Relu,
    Activation::Silu,
    Activation::Tanh,
];

/// Packed layouts tried: the backend's own (twice as often), plain panels of several widths,
/// and depth-grouped ones (the CPU's bf16 layout among them, which its kernels take in bf16
/// and the trait's composition in other dtypes).
const PACKED: [Option<PanelLayout>; 8] = [
    None,
    None,
    Some(PanelLayout::plain(1)),
    Some(PanelLayout::plain(5)),
    Some(PanelLayout::plain(32)),
    Some(PanelLayout {
        width: 32,
        depth_group: 2,
        depth_multiple: 32,
    }),
    Some(PanelLayout {
        width: 8,
        depth_group: 2,
        depth_multiple: 4,
    }),
    Some(PanelLayout {
        width: 3,
        depth_group: 3,
        depth_multiple: 6,
    }),
];

pub fn strategy() -> BoxedStrategy<Problem> {
    let lead = proptest::collection::vec(arb_size(9), 1..=3);
    let act = proptest::option::weighted(0.8, proptest::sample::select(ACTS.to_vec()));
    let form = prop_oneof![
        Just(Form::Linear),
        Just(Form::Matmul),
        proptest::sample::select(PACKED.to_vec()).prop_map(Form::Packed),
    ];
    (
        arb_float_dtype(),
        form,
        lead,
        arb_size(48),
        arb_size(48),
        act,
        any::<bool>(),
    )
        .prop_flat_map(|(dtype, form, lead, k, n, act, with_bias)| {
            let linear = matches!(form, Form::Linear);
            let mut xd = lead.clone();
            xd.push(k);
            let wd = if linear { vec![n, k] } else { vec![k, n] };
            let x = if linear {
                Input::arb(xd, Dist::Uniform(-1.0, 1.0), true)
            } else {
                // matmul_fused needs rank ≥ 2 on both sides: use [lead…, k] as is (and so
                // does matmul_packed, which reshapes the leading dims to rows).
                Input::arb(xd, Dist::Uniform(-1.0, 1.0), false)
            };
            let w = super::matmul::matrix_input(vec![], wd[0], wd[1]);
            let bias = if with_bias {
                Input::arb(vec![n], Dist::Uniform(-1.0, 1.0), false)
                    .prop_map(Some)
                    .boxed()
            } else {
                Just(None).boxed()
            };
            (x, w, bias).prop_map(move |(x, w, bias)| Problem {
                dtype,
                form,
                x,
                w,
                bias,
                act,
            })
        })
        .prop_filter("matmul_fused needs a matrix", |p| {
            matches!(p.form, Form::Linear) || p.x.dims.len() >= 2
        })
        .boxed()
}

pub fn check<B: Backend>(backend: &B, p: &Problem) -> Result<(), String> {
    let linear = matches!(p.form, Form::Linear);
    let what = format!("{:?} (act {:?}, bias {})", p.form, p.act, p.bias.is_some());
    let x = p.x.to_tensor(backend, p.dtype).map_err(|e| e.to_string())?;
    let w = p.w.to_tensor(backend, p.dtype).map_err(|e| e.to_string())?;
    let bias = p
        .bias
        .as_ref()
        .map(|b| b.to_tensor(backend, p.dtype))
        .transpose()
        .map_err(|e| e.to_string())?;
    let y = match p.form {
        Form::Linear => x.linear(&w, bias.as_ref(), p.act),
        Form::Matmul => x.matmul_fused(&w, bias.as_ref(), p.act),
        Form::Packed(layout) => {
            let layout = layout
                .or_else(|| backend.panel_layout(p.dtype))
                .unwrap_or(PanelLayout::plain(16));
            let packed = PackedRhs::with_layout(&w, layout).map_err(|e| format!("{what}: {e}"))?;
            // The panels hold the matrix exactly, whatever the layout.
            let back = packed.unpack().and_then(|t| t.to_vec_f32());
            let want = w.to_vec_f32();
            match (back, want) {
                (Ok(back), Ok(want)) if back == want => {}
                (Err(e), _) | (_, Err(e)) => return Err(format!("{what}: {e}")),
                _ => return Err(format!("{what}: unpacking {layout:?} changed the matrix")),
            }
            x.matmul_packed(&packed, bias.as_ref(), p.act)
        }
    }
    .map_err(|e| format!("{what}: {e}"))?;
    let (wd, wv) = if linear {
        layout::permute(&p.w.values(p.dtype), &p.w.dims, &[1, 0])
    } else {
        (p.w.dims.clone(), p.w.values(p.dtype))
    };
    let bias_v = p.bias.as_ref().map(|b| b.values(p.dtype));
    let r = matmul::matmul(
        &p.x.values(p.dtype),
        &p.x.dims,
        &wv,
        &wd,
        bias_v.as_deref(),
        p.act,
    )
    .ok_or_else(|| format!("{what}: generator produced incompatible shapes"))?;
    let mut dims = p.x.dims.clone();
    if let Some(last) = dims.last_mut() {
        *last = wd[1];
    }
    check_float(
        &what,
        &y,
        &dims,
        p.dtype,
        &r.values,
        Some(&r.scale),
        Tolerance::of(p.dtype),
    )
}

pub fn run<B: Backend>(backend: &B, cases: u32) {
    run_problem("matmul_fused", backend, cases, strategy(), check);
}
