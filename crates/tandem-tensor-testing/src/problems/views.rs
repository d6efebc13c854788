//! Chains of views (permute, transpose, narrow, reshape, unsqueeze/squeeze, broadcast,
//! contiguous) in every dtype, checked element by element against the same chain on the host.

use super::{check_meta, Ctx};
use crate::input::{arb_dims, download, Dist, Input};
use crate::reference::layout;
use crate::{compare, run_problem, Tolerance};
use proptest::prelude::*;
use tandem_tensor::{Backend, DType, Tensor};

/// One step of the chain; `choice` picks its parameters given the shape at that point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Permute,
    Transpose,
    Narrow,
    Reshape,
    Unsqueeze,
    Squeeze,
    Broadcast,
    Contiguous,
}

#[derive(Clone, Debug)]
pub struct Problem {
    pub dtype: DType,
    pub x: Input,
    pub steps: Vec<(Step, u32)>,
}

const STEPS: [Step; 8] = [
    Step::Permute,
    Step::Transpose,
    Step::Narrow,
    Step::Reshape,
    Step::Unsqueeze,
    Step::Squeeze,
    Step::Broadcast,
    Step::Contiguous,
];

pub fn strategy() -> BoxedStrategy<Problem> {
    let steps = proptest::collection::vec(
        (proptest::sample::select(STEPS.to_vec()), any::<u32>()),
        1..6,
    );
    (
        proptest::sample::select(DType::ALL.to_vec()),
        arb_dims(1..=4, 7, 1024),
        steps,
    )
        .prop_flat_map(|(dtype, dims, steps)| {
            let dist = if dtype.is_float() {
                Dist::Uniform(-2.0, 2.0)
            } else {
                Dist::Ints(0, 1000)
            };
            Input::arb(dims, dist, true).prop_map(move |x| Problem {
                dtype,
                x,
                steps: steps.clone(),
            })
        })
        .boxed()
}

type Host = (Vec<usize>, Vec<f64>);

fn apply<B: Backend>(
    t: Tensor<B>,
    h: Host,
    step: Step,
    c: u32,
) -> tandem_tensor::Result<(Tensor<B>, Host)> {
    let (dims, vals) = h;
    let rank = dims.len();
    let c = c as usize;
    Ok(match step {
        Step::Permute if rank > 0 => {
            let mut order: Vec<usize> = (0..rank).collect();
            for i in (1..rank).rev() {
                order.swap(i, (c / (i + 1)) % (i + 1));
            }
            (t.permute(&order)?, layout::permute(&vals, &dims, &order))
        }
        Step::Transpose if rank > 0 => {
            let (d0, d1) = (c % rank, (c / 7) % rank);
            let mut order: Vec<usize> = (0..rank).collect();
            order.swap(d0, d1);
            (t.transpose(d0, d1)?, layout::permute(&vals, &dims, &order))
        }
        Step::Narrow if rank > 0 && dims[c % rank] > 0 => {
            let dim = c % rank;
            let start = (c / 7) % dims[dim];
            let len = 1 + (c / 131) % (dims[dim] - start);
            (
                t.narrow(dim, start, len)?,
                layout::narrow(&vals, &dims, dim, start, len),
            )
        }
        Step::Reshape if rank > 0 => {
            let i = c % rank;
            let mut nd = dims.clone();
            if i + 1 < rank && c & 1 == 0 {
                let merged = nd[i] * nd[i + 1];
                nd.splice(i..=i + 1, [merged]);
            } else if let Some(f) = (2..=nd[i]).find(|f| nd[i] % f == 0) {
                let rest = nd[i] / f;
                nd.splice(i..=i, [f, rest]);
            } else {
                nd = vec![vals.len()];
            }
            (t.reshape(&nd)?, (nd, vals))
        }
        Step::Unsqueeze => {
            let d = c % (rank + 1);
            let mut nd = dims.clone();
            nd.insert(d, 1);
            (t.unsqueeze(d)?, (nd, vals))
        }
        Step::Squeeze if dims.contains(&1) => {
            let d = dims.iter().position(|&x| x == 1).unwrap_or(0);
            let mut nd = dims.clone();
            nd.remove(d);
            (t.squeeze(d)?, (nd, vals))
        }
        Step::Broadcast if rank < 5 => {
            let n = 1 + c % 3;
            let mut nd = vec![n];
            nd.extend(&dims);
            let rep: Vec<f64> = (0..n).flat_map(|_| vals.iter().copied()).collect();
            (t.broadcast_as(&nd)?, (nd, rep))
        }
        Step::Contiguous => (t.contiguous()?, (dims, vals)),
        _ => (t, (dims, vals)),
    })
}

pub fn check<B: Backend>(backend: &B, p: &Problem) -> Result<(), String> {
    let mut t = p.x.to_tensor(backend, p.dtype).map_err(|e| e.to_string())?;
    let mut host: Host = (p.x.dims.clone(), p.x.values(p.dtype));
    for (i, &(step, c)) in p.steps.iter().enumerate() {
        let what = format!("view step {i} ({step:?}) on {:?}", host.0);
        (t, host) = apply(t, host, step, c).map_err(|e| format!("{what}: {e}"))?;
        check_meta(&what, &t, &host.0, p.dtype)?;
        let got = download(&t).ctx(&what)?;
        compare(
            &what,
            &host.0,
            &got,
            &host.1,
            None,
            Tolerance {
                atol: 0.0,
                rtol: 0.0,
                acc: 0.0,
            },
        )?;
    }
    let c = t
        .contiguous()
        .map_err(|e| format!("final contiguous: {e}"))?;
    if !c.is_contiguous() {
        return Err(format!(
            "contiguous() returned a non-contiguous layout {:?}",
            c.layout()
        ));
    }
    compare(
        "final contiguous",
        &host.0,
        &download(&c).ctx("final contiguous")?,
        &host.1,
        None,
        Tolerance::of(DType::U32),
    )
}

pub fn run<B: Backend>(backend: &B, cases: u32) {
    run_problem("views", backend, cases, strategy(), check);
}
