//! Dtype conversion: float→int truncates toward zero, int→float and float→float round to
//! nearest (ties to even).

use tandem_tensor::DType;

/// Converts one value held exactly as f64 (`x` is a value of the source dtype) to `to`.
pub fn cast(x: f64, to: DType) -> f64 {
    match to {
        DType::F32 => x as f32 as f64,
        // One rounding (`half`'s own bf16::from_f64 misrounds just above ties: half-rs#151).
        DType::F16 => tandem_tensor::f16_from_f64(x).to_f64(),
        DType::BF16 => tandem_tensor::bf16_from_f64(x).to_f64(),
        DType::U32 => x.trunc() as u32 as f64,
        DType::I64 => x.trunc() as i64 as f64,
    }
}
