//! `full`: a constant tensor written by a kernel (no host upload, so no staging traffic).

use super::{alloc, bytes, fits_u32, grid_1d};
use crate::error::Result;
use crate::runtime::kernel::{KernelSpec, Repr};
use crate::runtime::Context;
use crate::storage::WgpuStorage;
use std::sync::Arc;

const SRC: &str = tandem_kernels::wgsl::FILL;

/// The two 32-bit words whose alternation spells `value` in `repr`, with `as` semantics for ints.
fn pattern(value: f64, repr: Repr) -> [u32; 2] {
    match repr {
        Repr::F32 => [(value as f32).to_bits(); 2],
        Repr::F16InF32 => [tandem_tensor::f16_from_f64(value).to_f32().to_bits(); 2],
        Repr::Bf16InF32 => [tandem_tensor::bf16_from_f64(value).to_f32().to_bits(); 2],
        Repr::F16 => {
            let h = tandem_tensor::f16_from_f64(value).to_bits() as u32;
            [h | (h << 16); 2]
        }
        Repr::U32 => [value as u32; 2],
        Repr::I64 => {
            let v = value as i64 as u64;
            [v as u32, (v >> 32) as u32]
        }
    }
}

pub fn full(ctx: &Arc<Context>, value: f64, len: usize, repr: Repr) -> Result<WgpuStorage> {
    let out = alloc(ctx, "full", len, repr)?;
    let words = (len * repr.bytes()).div_ceil(4);
    let [p0, p1] = pattern(value, repr);
    let params = [fits_u32("full", words)?, p0, p1, 0];
    let spec = KernelSpec {
        name: "fill",
        entry: "fill",
        source: SRC,
        types: &[],
        flags: &[],
        constants: &[],
        inputs: 0,
        outputs: 1,
    };
    ctx.dispatch(&spec, bytes(&params), &[out.buffer()], grid_1d(ctx, words))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_spell_the_value() {
        assert_eq!(pattern(-1.0, Repr::I64), [u32::MAX, u32::MAX]);
        assert_eq!(pattern(1.5, Repr::F16), [0x3e00_3e00; 2]);
        assert_eq!(pattern(3.9, Repr::U32), [3; 2]);
    }
}
