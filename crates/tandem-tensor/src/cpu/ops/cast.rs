//! Dtype conversion.

use crate::cpu::storage::{bf16_to_f32, f32_to_bf16, CpuStorage};
use crate::DType;

pub fn cast(src: &CpuStorage, offset: usize, len: usize, to: DType) -> CpuStorage {
    let range = offset..offset + len;
    match (src, to) {
        (CpuStorage::I64(v), DType::U32) => {
            CpuStorage::U32(v[range].iter().map(|&x| x as u32).collect())
        }
        (CpuStorage::U32(v), DType::I64) => {
            CpuStorage::I64(v[range].iter().map(|&x| x as i64).collect())
        }
        (CpuStorage::I64(v), DType::I64) => CpuStorage::I64(v[range].to_vec()),
        (CpuStorage::U32(v), DType::U32) => CpuStorage::U32(v[range].to_vec()),
        // Straight from the source slice, without an f32 copy first: loading f32 weights as
        // bf16 goes through here once per tensor.
        (CpuStorage::F32(v), DType::BF16) => {
            CpuStorage::BF16(v[range].iter().map(|&x| f32_to_bf16(x)).collect())
        }
        (CpuStorage::BF16(v), DType::F32) => {
            CpuStorage::F32(v[range].iter().map(|&x| bf16_to_f32(x)).collect())
        }
        (CpuStorage::I64(v), _) => {
            CpuStorage::from_f32(v[range].iter().map(|&x| x as f32).collect(), to)
        }
        _ => CpuStorage::from_f32(src.as_f32()[range].to_vec(), to),
    }
}
