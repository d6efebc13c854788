//! Host-memory storage of the CPU backend.

use crate::{DType, Error, Result};
use half::{bf16, f16};
use std::borrow::Cow;

/// A typed host buffer. Half-precision variants are computed in f32 by the CPU kernels
/// (converted on load and store), which keeps one kernel per op and f32 accuracy.
#[derive(Clone, Debug)]
pub enum CpuStorage {
    F32(Vec<f32>),
    F16(Vec<f16>),
    BF16(Vec<bf16>),
    U32(Vec<u32>),
    I64(Vec<i64>),
}

/// Runs `$body` with `$v` bound to the typed vector of any variant.
macro_rules! with_vec {
    ($storage:expr, $v:ident => $body:expr) => {
        match $storage {
            CpuStorage::F32($v) => $body,
            CpuStorage::F16($v) => $body,
            CpuStorage::BF16($v) => $body,
            CpuStorage::U32($v) => $body,
            CpuStorage::I64($v) => $body,
        }
    };
}

/// Builds a storage of the same variant as `$like` from a closure over its typed vector.
macro_rules! map_vec {
    ($storage:expr, $v:ident => $body:expr) => {
        match $storage {
            CpuStorage::F32($v) => CpuStorage::F32($body),
            CpuStorage::F16($v) => CpuStorage::F16($body),
            CpuStorage::BF16($v) => CpuStorage::BF16($body),
            CpuStorage::U32($v) => CpuStorage::U32($body),
            CpuStorage::I64($v) => CpuStorage::I64($body),
        }
    };
}
pub(crate) use map_vec;

impl CpuStorage {
    pub fn dtype(&self) -> DType {
        match self {
            CpuStorage::F32(_) => DType::F32,
            CpuStorage::F16(_) => DType::F16,
            CpuStorage::BF16(_) => DType::BF16,
            CpuStorage::U32(_) => DType::U32,
            CpuStorage::I64(_) => DType::I64,
        }
    }

    pub fn len(&self) -> usize {
        with_vec!(self, v => v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn from_bytes(bytes: &[u8], dtype: DType) -> Result<Self> {
        if !bytes.len().is_multiple_of(dtype.size_in_bytes()) {
            return Err(Error::invalid(
                "upload",
                format!("{} bytes is not a whole number of {dtype}", bytes.len()),
            ));
        }
        Ok(match dtype {
            DType::F32 => CpuStorage::F32(bytemuck::pod_collect_to_vec(bytes)),
            DType::F16 => CpuStorage::F16(bytemuck::pod_collect_to_vec(bytes)),
            DType::BF16 => CpuStorage::BF16(bytemuck::pod_collect_to_vec(bytes)),
            DType::U32 => CpuStorage::U32(bytemuck::pod_collect_to_vec(bytes)),
            DType::I64 => CpuStorage::I64(bytemuck::pod_collect_to_vec(bytes)),
        })
    }

    pub fn bytes(&self, offset: usize, len: usize) -> Result<Vec<u8>> {
        if offset + len > self.len() {
            return Err(Error::IndexOutOfRange {
                op: "read",
                index: offset + len,
                size: self.len(),
            });
        }
        Ok(with_vec!(self, v => bytemuck::cast_slice(&v[offset..offset + len]).to_vec()))
    }

    /// The elements as f32 (borrowed for F32 storage, converted otherwise).
    pub fn as_f32(&self) -> Cow<'_, [f32]> {
        match self {
            CpuStorage::F32(v) => Cow::Borrowed(v),
            CpuStorage::F16(v) => Cow::Owned(v.iter().map(|x| x.to_f32()).collect()),
            CpuStorage::BF16(v) => Cow::Owned(v.iter().map(|&x| bf16_to_f32(x)).collect()),
            CpuStorage::U32(v) => Cow::Owned(v.iter().map(|&x| x as f32).collect()),
            CpuStorage::I64(v) => Cow::Owned(v.iter().map(|&x| x as f32).collect()),
        }
    }

    /// Stores f32 results as `dtype` (rounding to nearest for half types).
    pub fn from_f32(values: Vec<f32>, dtype: DType) -> CpuStorage {
        match dtype {
            DType::F32 => CpuStorage::F32(values),
            DType::F16 => CpuStorage::F16(values.iter().map(|&x| f16::from_f32(x)).collect()),
            DType::BF16 => CpuStorage::BF16(values.iter().map(|&x| f32_to_bf16(x)).collect()),
            DType::U32 => CpuStorage::U32(values.iter().map(|&x| x as u32).collect()),
            DType::I64 => CpuStorage::I64(values.iter().map(|&x| x as i64).collect()),
        }
    }

    /// Integer view for index tensors.
    pub fn as_indices(&self) -> Result<Cow<'_, [i64]>> {
        match self {
            CpuStorage::I64(v) => Ok(Cow::Borrowed(v)),
            CpuStorage::U32(v) => Ok(Cow::Owned(v.iter().map(|&x| x as i64).collect())),
            other => Err(Error::UnsupportedDType {
                op: "index",
                dtype: other.dtype(),
            }),
        }
    }
}

/// `half::bf16::from_f32` (round to nearest, ties to even; a NaN stays NaN with its top
/// mantissa bits and the quiet bit set), written without branches so that a slice's
/// conversion vectorises: every bf16 result of the CPU backend passes through it (about 3%
/// of a bf16 caption run, and most of a bf16 model's load, with half's branchy scalar form).
#[inline]
pub(crate) fn f32_to_bf16(x: f32) -> bf16 {
    let b = x.to_bits();
    let nan = (b & 0x7FFF_FFFF) > 0x7F80_0000;
    // Adding 0x7FFF plus the lowest kept bit, then truncating, rounds half to even; an
    // overflow past the largest finite value carries into the exponent and gives infinity.
    let rounded = b.wrapping_add(0x7FFF + ((b >> 16) & 1)) >> 16;
    let quiet = (b >> 16) | 0x0040;
    bf16::from_bits(if nan { quiet } else { rounded } as u16)
}

/// `half::bf16::to_f32` (exact; a NaN gets the quiet bit set), without branches.
#[inline]
pub(crate) fn bf16_to_f32(x: bf16) -> f32 {
    let b = x.to_bits();
    let wide = u32::from(b) << 16;
    f32::from_bits(if b & 0x7FFF > 0x7F80 {
        wide | 0x0040_0000
    } else {
        wide
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every 4093rd f32 bit pattern (about a million, all exponents, both signs, NaNs and
    /// infinities among them) plus the rounding edges, bit for bit against `half`.
    #[test]
    fn bf16_conversions_match_half_bit_for_bit() {
        let edges = [
            0u32,
            0x8000_0000,
            0x0000_8000,
            0x0001_8000,
            0x0000_8001,
            0x7F7F_FFFF,
            0xFF7F_FFFF,
            0x7F80_0000,
            0xFF80_0000,
            0x7F80_0001,
            0x7FC0_0000,
            0xFFFF_FFFF,
            0x0000_0001,
            0x007F_FFFF,
            0x3F80_8000,
            0x3F81_8000,
        ];
        for b in (0..=u32::MAX).step_by(4093).chain(edges) {
            let x = f32::from_bits(b);
            assert_eq!(
                f32_to_bf16(x).to_bits(),
                bf16::from_f32(x).to_bits(),
                "{b:#010x}"
            );
        }
        for b in 0..=u16::MAX {
            let x = bf16::from_bits(b);
            assert_eq!(bf16_to_f32(x).to_bits(), x.to_f32().to_bits(), "{b:#06x}");
        }
    }
}
