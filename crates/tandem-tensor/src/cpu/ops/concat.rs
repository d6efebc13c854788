//! Concatenation along a dim.

use super::copy::gather;
use crate::cpu::storage::CpuStorage;
use crate::layout::Layout;
use crate::{Error, Result};

/// Inputs are (storage, layout) pairs of one dtype, equal in every dim but `dim`.
pub fn concat(inputs: &[(&CpuStorage, &Layout)], dim: usize) -> Result<CpuStorage> {
    macro_rules! cat {
        ($variant:ident) => {{
            let parts = inputs
                .iter()
                .map(|(s, l)| match s {
                    CpuStorage::$variant(v) => Ok((gather(v, l), *l)),
                    other => Err(Error::DTypeMismatch {
                        op: "cat",
                        expected: inputs[0].0.dtype(),
                        got: other.dtype(),
                    }),
                })
                .collect::<Result<Vec<_>>>()?;
            let dims = parts[0].1.dims();
            let outer: usize = dims[..dim].iter().product();
            let total: usize = parts.iter().map(|(v, _)| v.len()).sum();
            let mut out = Vec::with_capacity(total);
            for o in 0..outer {
                for (v, l) in &parts {
                    let block = l.dims()[dim..].iter().product::<usize>();
                    out.extend_from_slice(&v[o * block..(o + 1) * block]);
                }
            }
            CpuStorage::$variant(out)
        }};
    }
    Ok(match inputs[0].0 {
        CpuStorage::F32(_) => cat!(F32),
        CpuStorage::F16(_) => cat!(F16),
        CpuStorage::BF16(_) => cat!(BF16),
        CpuStorage::U32(_) => cat!(U32),
        CpuStorage::I64(_) => cat!(I64),
    })
}
