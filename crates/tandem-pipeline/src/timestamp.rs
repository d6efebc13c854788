//! Event time: [`Timestamp`], the time an element *belongs to*, as opposed to when it is
//! processed.
//!
//! Beam and timely-dataflow both order progress by a timestamp carried with every element; the
//! low watermark of a collection is a timestamp below which no further element will arrive
//! (timely calls it the frontier). Tandem uses one totally ordered `u64` for it. The unit is
//! whatever the source says: file and list inputs stamp each element with its **position** in
//! the input order (0, 1, 2, ...), sources that know real event times use milliseconds since
//! the Unix epoch. Windows are sized in the same unit.

use serde::{Deserialize, Serialize};

/// An event time. `Timestamp::MIN` is the start of time; `Timestamp::MAX` is "after every
/// element": a watermark at `MAX` means the collection is complete (end of input).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The earliest timestamp.
    pub const MIN: Timestamp = Timestamp(0);
    /// The watermark of a complete collection; no element carries it.
    pub const MAX: Timestamp = Timestamp(u64::MAX);

    /// The timestamp `n` units later, saturating at [`Timestamp::MAX`].
    pub fn plus(self, n: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(n))
    }

    /// Whether this is the end-of-input watermark.
    pub fn is_max(self) -> bool {
        self == Timestamp::MAX
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_max() {
            f.write_str("+inf")
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl From<u64> for Timestamp {
    fn from(t: u64) -> Self {
        Timestamp(t)
    }
}
