//! Problem inputs: host data with a logical shape, plus the view recipe that decides how the
//! data is laid out on the device (contiguous, permuted, narrowed out of a larger buffer, or
//! broadcast from a smaller tensor). The reference always sees the logical row-major values.

use half::{bf16, f16};
use proptest::prelude::*;
use std::fmt;
use tandem_tensor::{Backend, DType, Result, Tensor};

/// How values are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Dist {
    /// Uniform in `[lo, hi)`.
    Uniform(f32, f32),
    /// Integers in `[lo, hi]` (many ties; exact in every dtype for small ranges).
    Ints(i32, i32),
    /// Random sign, magnitude `10^u` with `u` uniform in `[lo, hi)`: values spread over decades,
    /// so ops that square or multiply them reach f16/bf16 subnormals and overflow.
    LogUniform(f32, f32),
}

/// A small, fast, seedable generator (splitmix64) so problems hold a seed-derived vector
/// instead of asking proptest for thousands of individual floats.
pub fn gen_data(seed: u64, len: usize, dist: Dist) -> Vec<f32> {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    (0..len)
        .map(|_| match dist {
            Dist::Uniform(lo, hi) => lo + (hi - lo) * ((next() >> 40) as f32 / (1u64 << 24) as f32),
            Dist::Ints(lo, hi) => {
                (lo as i64 + (next() % (hi as i64 - lo as i64 + 1) as u64) as i64) as f32
            }
            Dist::LogUniform(lo, hi) => {
                let bits = next();
                let u = (bits >> 40) as f32 / (1u64 << 24) as f32;
                let sign = if bits & 1 == 0 { 1.0 } else { -1.0 };
                sign * 10f32.powf(lo + (hi - lo) * u)
            }
        })
        .collect()
}

/// How a logical tensor is laid out in device storage.
#[derive(Clone, Debug, PartialEq)]
pub enum ViewSpec {
    Contiguous,
    /// Stored with its dims in another order, then `permute`d back; the stored tensor is padded
    /// along stored dim `pad_dim` (`before` / `after` poison entries) and `narrow`ed.
    Strided {
        order: Vec<usize>,
        pad_dim: usize,
        before: usize,
        after: usize,
    },
    /// Stored with size 1 on the dims where `broadcast[d]`, then `broadcast_as` the logical dims.
    Broadcast {
        broadcast: Vec<bool>,
    },
}

/// A strategy for a non-broadcast view of a rank-`rank` tensor (contiguous about a third of the time).
pub fn arb_view(rank: usize) -> BoxedStrategy<ViewSpec> {
    if rank == 0 {
        return Just(ViewSpec::Contiguous).boxed();
    }
    let strided = (
        Just((0..rank).collect::<Vec<_>>()).prop_shuffle(),
        0..rank,
        0usize..3,
        0usize..3,
    )
        .prop_map(|(order, pad_dim, before, after)| ViewSpec::Strided {
            order,
            pad_dim,
            before,
            after,
        });
    prop_oneof![1 => Just(ViewSpec::Contiguous), 2 => strided].boxed()
}

/// A strategy that also offers broadcast views (only values constant along a dim can be
/// broadcast, so [`Input::new`] collapses those dims of the generated data).
pub fn arb_view_or_broadcast(rank: usize) -> BoxedStrategy<ViewSpec> {
    let bc = proptest::collection::vec(proptest::bool::weighted(0.4), rank)
        .prop_map(|broadcast| ViewSpec::Broadcast { broadcast });
    prop_oneof![3 => arb_view(rank), 1 => bc].boxed()
}

/// One input of a problem: logical dims, logical row-major values, and the device view.
#[derive(Clone, PartialEq)]
pub struct Input {
    pub dims: Vec<usize>,
    pub data: Vec<f32>,
    pub view: ViewSpec,
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Input {{ dims: {:?}, view: {:?}, data: {:?} }}",
            self.dims, self.view, self.data
        )
    }
}

/// Poison for storage entries outside a view: a backend that reads them produces NaN.
const POISON: f32 = f32::NAN;

impl Input {
    /// Builds an input; for a broadcast view the data is made constant along broadcast dims
    /// (each element takes the value of its representative at index 0 of those dims).
    pub fn new(dims: Vec<usize>, data: Vec<f32>, view: ViewSpec) -> Input {
        let data = match &view {
            ViewSpec::Broadcast { broadcast } => {
                let small: Vec<usize> = dims
                    .iter()
                    .zip(broadcast)
                    .map(|(&d, &b)| if b { 1 } else { d })
                    .collect();
                let strides = contiguous_strides(&dims);
                (0..data.len())
                    .map(|i| {
                        let idx = crate::tolerance::unflatten(i, &dims);
                        let src: usize = idx
                            .iter()
                            .zip(&small)
                            .zip(&strides)
                            .map(|((&x, &s), &st)| if s == 1 { 0 } else { x * st })
                            .sum();
                        data[src]
                    })
                    .collect()
            }
            _ => data,
        };
        Input { dims, data, view }
    }

    pub fn contiguous(dims: Vec<usize>, data: Vec<f32>) -> Input {
        Input {
            dims,
            data,
            view: ViewSpec::Contiguous,
        }
    }

    /// A strategy for an input of `dims` with values from `dist` and any view (`broadcast`
    /// allows stride-0 views too).
    pub fn arb(dims: Vec<usize>, dist: Dist, broadcast: bool) -> BoxedStrategy<Input> {
        let n: usize = dims.iter().product();
        let view = if broadcast {
            arb_view_or_broadcast(dims.len())
        } else {
            arb_view(dims.len())
        };
        (any::<u64>(), view)
            .prop_map(move |(seed, view)| Input::new(dims.clone(), gen_data(seed, n, dist), view))
            .boxed()
    }

    /// The logical values after rounding to `dtype` (what the device actually holds).
    pub fn values(&self, dtype: DType) -> Vec<f64> {
        self.data.iter().map(|&x| round_to(x, dtype)).collect()
    }

    /// Uploads the input with its view recipe.
    pub fn to_tensor<B: Backend>(&self, backend: &B, dtype: DType) -> Result<Tensor<B>> {
        match &self.view {
            ViewSpec::Contiguous => upload(backend, &self.data, &self.dims, dtype),
            ViewSpec::Broadcast { broadcast } => {
                let small: Vec<usize> = self
                    .dims
                    .iter()
                    .zip(broadcast)
                    .map(|(&d, &b)| if b { 1 } else { d })
                    .collect();
                let strides = contiguous_strides(&self.dims);
                let n: usize = small.iter().product();
                let data: Vec<f32> = (0..n)
                    .map(|i| {
                        let idx = crate::tolerance::unflatten(i, &small);
                        self.data[idx
                            .iter()
                            .zip(&strides)
                            .map(|(&x, &s)| x * s)
                            .sum::<usize>()]
                    })
                    .collect();
                upload(backend, &data, &small, dtype)?.broadcast_as(&self.dims)
            }
            ViewSpec::Strided {
                order,
                pad_dim,
                before,
                after,
            } => {
                // Stored dims: stored[order[i]] = logical[i]; then pad one stored dim.
                let rank = self.dims.len();
                let mut stored = vec![0; rank];
                for i in 0..rank {
                    stored[order[i]] = self.dims[i];
                }
                let mut padded = stored.clone();
                padded[*pad_dim] += before + after;
                let pstrides = contiguous_strides(&padded);
                let mut buf = vec![POISON; padded.iter().product()];
                for (i, &v) in self.data.iter().enumerate() {
                    let idx = crate::tolerance::unflatten(i, &self.dims);
                    let mut pos = 0;
                    for k in 0..rank {
                        let s = order[k];
                        let x = idx[k] + if s == *pad_dim { *before } else { 0 };
                        pos += x * pstrides[s];
                    }
                    buf[pos] = v;
                }
                upload(backend, &buf, &padded, dtype)?
                    .narrow(*pad_dim, *before, stored[*pad_dim])?
                    .permute(order)
            }
        }
    }
}

pub fn contiguous_strides(dims: &[usize]) -> Vec<usize> {
    tandem_tensor::layout::contiguous_strides(dims)
}

/// `x` rounded to `dtype` and widened to f64 (ints truncate, as casts do).
pub fn round_to(x: f32, dtype: DType) -> f64 {
    match dtype {
        DType::F32 => x as f64,
        DType::F16 => f16::from_f32(x).to_f64(),
        DType::BF16 => bf16::from_f32(x).to_f64(),
        DType::U32 => (x as u32) as f64,
        DType::I64 => (x as i64) as f64,
    }
}

/// Uploads f32 host values as `dtype` (NaN poison becomes 0 in integer dtypes).
pub fn upload<B: Backend>(
    backend: &B,
    data: &[f32],
    dims: &[usize],
    dtype: DType,
) -> Result<Tensor<B>> {
    match dtype {
        DType::F32 => Tensor::from_slice(backend, data, dims),
        DType::F16 => Tensor::from_slice(
            backend,
            &data.iter().map(|&x| f16::from_f32(x)).collect::<Vec<_>>(),
            dims,
        ),
        DType::BF16 => Tensor::from_slice(
            backend,
            &data.iter().map(|&x| bf16::from_f32(x)).collect::<Vec<_>>(),
            dims,
        ),
        DType::U32 => Tensor::from_slice(
            backend,
            &data.iter().map(|&x| x as u32).collect::<Vec<_>>(),
            dims,
        ),
        DType::I64 => Tensor::from_slice(
            backend,
            &data.iter().map(|&x| x as i64).collect::<Vec<_>>(),
            dims,
        ),
    }
}

/// Downloads any tensor as f64 on the host, converting there (not through the backend's cast,
/// which is itself under test).
pub fn download<B: Backend>(t: &Tensor<B>) -> Result<Vec<f64>> {
    Ok(match t.dtype() {
        DType::F32 => t.to_vec::<f32>()?.into_iter().map(f64::from).collect(),
        DType::F16 => t.to_vec::<f16>()?.into_iter().map(|x| x.to_f64()).collect(),
        DType::BF16 => t
            .to_vec::<bf16>()?
            .into_iter()
            .map(|x| x.to_f64())
            .collect(),
        DType::U32 => t.to_vec::<u32>()?.into_iter().map(f64::from).collect(),
        DType::I64 => t.to_vec::<i64>()?.into_iter().map(|x| x as f64).collect(),
    })
}

/// Rounds reference results to `dtype` (so exactly-representable expectations, like the max of
/// a row, compare exactly).
pub fn round_all(values: &[f64], dtype: DType) -> Vec<f64> {
    values
        .iter()
        .map(|&x| {
            if dtype == DType::F32 {
                x as f32 as f64
            } else {
                round_to(x as f32, dtype)
            }
        })
        .collect()
}

/// A strategy for one float dtype, mostly f32.
pub fn arb_float_dtype() -> BoxedStrategy<DType> {
    prop_oneof![4 => Just(DType::F32), 1 => Just(DType::F16), 1 => Just(DType::BF16)].boxed()
}

/// A strategy for a dim size: often 1, often small and odd, sometimes up to `max`.
pub fn arb_size(max: usize) -> BoxedStrategy<usize> {
    let max = max.max(1);
    prop_oneof![1 => Just(1usize), 2 => 1..=max.min(7), 2 => 1..=max].boxed()
}

/// A strategy for dims of rank in `ranks`, each dim at most `max`, total at most `budget`.
pub fn arb_dims(
    ranks: std::ops::RangeInclusive<usize>,
    max: usize,
    budget: usize,
) -> BoxedStrategy<Vec<usize>> {
    ranks
        .prop_flat_map(move |r| proptest::collection::vec(arb_size(max), r))
        .prop_filter("shape too large", move |d| {
            d.iter().product::<usize>() <= budget
        })
        .boxed()
}
