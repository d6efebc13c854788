//! A size-class caching allocator, so steady-state inference never calls `cuMemAlloc`.
//!
//! Storage freed by a dropped tensor comes back here, keyed by its size class, and the next
//! request of that class reuses it. Reuse across streams (model copies) is safe because cudarc
//! records each buffer's last read and write as events and makes the next user's stream wait on
//! them. Generic over the buffer type so its policy is unit-tested without a GPU.

use std::collections::BTreeMap;

/// Smallest buffer handed out, in bytes (also the alignment every size class keeps).
const MIN_BYTES: usize = 256;
/// Size classes are powers of two up to this, then multiples of it (bounded waste, and
/// repeated shapes always land in the same class).
const BIG: usize = 32 << 20;

/// The size class a request of `bytes` is served from.
pub fn size_class(bytes: usize) -> usize {
    let b = bytes.max(MIN_BYTES);
    if b <= BIG {
        b.next_power_of_two()
    } else {
        b.div_ceil(BIG) * BIG
    }
}

/// Idle buffers by size class, with counters for tests and memory reports.
#[derive(Debug)]
pub struct Pool<Buf> {
    idle: BTreeMap<usize, Vec<Buf>>,
    /// Bytes held idle; past `max_idle` freed buffers are really freed instead.
    idle_bytes: usize,
    max_idle: usize,
    /// Bytes handed out and not yet returned.
    pub live_bytes: usize,
    /// Requests served by a fresh allocation.
    pub allocations: u64,
    /// Requests served from the pool.
    pub reuses: u64,
}

impl<Buf> Pool<Buf> {
    pub fn new(max_idle: usize) -> Self {
        Pool {
            idle: BTreeMap::new(),
            idle_bytes: 0,
            max_idle,
            live_bytes: 0,
            allocations: 0,
            reuses: 0,
        }
    }

    /// An idle buffer of exactly `class` bytes, if one exists (counted as a reuse).
    pub fn take(&mut self, class: usize) -> Option<Buf> {
        let buf = self.idle.get_mut(&class)?.pop()?;
        self.idle_bytes -= class;
        self.live_bytes += class;
        self.reuses += 1;
        Some(buf)
    }

    /// Records that a fresh buffer of `class` bytes was allocated and handed out.
    pub fn allocated(&mut self, class: usize) {
        self.live_bytes += class;
        self.allocations += 1;
    }

    /// Takes back a buffer of `class` bytes; returns it when the pool is full (the caller frees it).
    pub fn give_back(&mut self, class: usize, buf: Buf) -> Option<Buf> {
        self.live_bytes = self.live_bytes.saturating_sub(class);
        if self.idle_bytes + class > self.max_idle {
            return Some(buf);
        }
        self.idle_bytes += class;
        self.idle.entry(class).or_default().push(buf);
        None
    }

    /// Empties the pool (e.g. before retrying an allocation that ran out of memory).
    pub fn drain(&mut self) -> Vec<Buf> {
        self.idle_bytes = 0;
        std::mem::take(&mut self.idle)
            .into_values()
            .flatten()
            .collect()
    }

    pub fn idle_bytes(&self) -> usize {
        self.idle_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_are_stable_and_bounded() {
        assert_eq!(size_class(0), 256);
        assert_eq!(size_class(257), 512);
        assert_eq!(size_class(32 << 20), 32 << 20);
        assert_eq!(size_class((32 << 20) + 1), 64 << 20);
        assert_eq!(size_class((100 << 20) + 3), 128 << 20);
    }

    #[test]
    fn steady_state_reuses_instead_of_allocating() {
        let mut pool: Pool<Vec<u8>> = Pool::new(1 << 30);
        // One "forward": three buffers of two classes, then all freed.
        for step in 0..5 {
            let mut held = Vec::new();
            for bytes in [1000, 1000, 5000] {
                let class = size_class(bytes);
                let buf = pool.take(class).unwrap_or_else(|| {
                    pool.allocated(class);
                    vec![0; class]
                });
                held.push((class, buf));
            }
            assert_eq!(pool.live_bytes, 1024 + 1024 + 8192, "step {step}");
            for (class, buf) in held {
                assert!(pool.give_back(class, buf).is_none());
            }
        }
        assert_eq!(pool.allocations, 3, "only the first step allocates");
        assert_eq!(pool.reuses, 12);
        assert_eq!(pool.live_bytes, 0);
        assert_eq!(pool.idle_bytes(), 1024 + 1024 + 8192);
    }

    #[test]
    fn a_full_pool_hands_buffers_back_to_be_freed() {
        let mut pool: Pool<u32> = Pool::new(1024);
        pool.allocated(1024);
        pool.allocated(1024);
        assert!(pool.give_back(1024, 1).is_none());
        assert_eq!(pool.give_back(1024, 2), Some(2));
        assert_eq!(pool.drain(), vec![1]);
        assert_eq!(pool.idle_bytes(), 0);
    }
}
