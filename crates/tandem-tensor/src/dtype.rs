//! Element types a tensor can hold.

use half::{bf16, f16};
use std::fmt;

/// The element type of a tensor. Floats are what models compute in; `U32`/`I64` hold token ids
/// and indices (`I64` because that is what Hugging Face tokenizers and checkpoints use).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F16,
    BF16,
    U32,
    I64,
}

impl DType {
    pub const ALL: [DType; 5] = [DType::F32, DType::F16, DType::BF16, DType::U32, DType::I64];
    pub const FLOATS: [DType; 3] = [DType::F32, DType::F16, DType::BF16];

    /// Bytes per element.
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::F16 | DType::BF16 => 2,
            DType::F32 | DType::U32 => 4,
            DType::I64 => 8,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F16 | DType::BF16)
    }

    pub fn is_int(self) -> bool {
        !self.is_float()
    }

    /// The name used in kernel entry points and safetensors headers (`f32`, `bf16`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::U32 => "u32",
            DType::I64 => "i64",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Rust type that can be uploaded to or downloaded from a tensor of the matching [`DType`].
pub trait Element: bytemuck::Pod + Copy + Send + Sync + fmt::Debug + 'static {
    const DTYPE: DType;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
}

macro_rules! element {
    ($t:ty, $d:ident, |$x:ident| $to:expr, |$v:ident| $from:expr) => {
        impl Element for $t {
            const DTYPE: DType = DType::$d;
            fn to_f64(self) -> f64 {
                let $x = self;
                $to
            }
            fn from_f64($v: f64) -> Self {
                $from
            }
        }
    };
}

element!(f32, F32, |x| x as f64, |v| v as f32);
element!(f16, F16, |x| x.to_f64(), |v| crate::f16_from_f64(v));
element!(bf16, BF16, |x| x.to_f64(), |v| crate::bf16_from_f64(v));
element!(u32, U32, |x| x as f64, |v| v as u32);
element!(i64, I64, |x| x as f64, |v| v as i64);
