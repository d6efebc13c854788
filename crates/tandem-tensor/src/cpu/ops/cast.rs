//! Dtype conversion.

use crate::cpu::storage::CpuStorage;
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
        (CpuStorage::I64(v), _) => {
            CpuStorage::from_f32(v[range].iter().map(|&x| x as f32).collect(), to)
        }
        _ => CpuStorage::from_f32(src.as_f32()[range].to_vec(), to),
    }
}
