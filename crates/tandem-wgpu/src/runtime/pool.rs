//! A size-class buffer pool, so steady-state inference creates no device buffers.
//!
//! Storage freed by a dropped tensor comes back here. Kernel outputs may reuse a buffer freed
//! during the batch that is still being recorded: commands run in recording order on one queue,
//! and wgpu inserts the barriers, so a later kernel writing it is ordered after the earlier reads.
//! Host writes (`queue.write_buffer`) are different: they run at the *start* of the next
//! submission, before commands already recorded into it. Uploads therefore only take buffers
//! whose last use was in an already-submitted batch ("clean" ones).

use std::collections::BTreeMap;

/// Buffers are created with every usage a kernel or transfer needs, so any pooled buffer can
/// serve any role.
pub const USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::UNIFORM)
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// Smallest buffer handed out (also keeps every size a multiple of 4 and of 16).
const MIN_BYTES: u64 = 256;
/// Idle bytes kept for reuse; past this, freed buffers are destroyed instead.
const MAX_IDLE_BYTES: u64 = 2 << 30;

/// Rounds a request up to its size class: powers of two up to 16 MiB, then multiples of 16 MiB
/// (bounded waste, and repeated shapes always land in the same class).
pub fn size_class(bytes: u64) -> u64 {
    let b = bytes.max(MIN_BYTES);
    const BIG: u64 = 16 << 20;
    if b <= BIG {
        b.next_power_of_two()
    } else {
        b.div_ceil(BIG) * BIG
    }
}

struct Idle {
    buffer: wgpu::Buffer,
    /// The batch during which it was freed; clean once that batch is submitted.
    freed_in_batch: u64,
}

#[derive(Default)]
pub struct Pool {
    idle: BTreeMap<u64, Vec<Idle>>,
    idle_bytes: u64,
    pub created: u64,
    pub reused: u64,
}

impl Pool {
    /// A buffer of `class` bytes (a [`size_class`]); `clean_before` is the first unsubmitted
    /// batch when the buffer will be written from the host, `None` for kernel outputs.
    pub fn acquire(
        &mut self,
        device: &wgpu::Device,
        class: u64,
        clean_before: Option<u64>,
    ) -> wgpu::Buffer {
        if let Some(list) = self.idle.get_mut(&class) {
            let pos = match clean_before {
                None => list.len().checked_sub(1),
                Some(batch) => list.iter().rposition(|e| e.freed_in_batch < batch),
            };
            if let Some(pos) = pos {
                let e = list.swap_remove(pos);
                self.idle_bytes -= class;
                self.reused += 1;
                return e.buffer;
            }
        }
        self.created += 1;
        device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("tandem"),
            size: class,
            usage: USAGE,
            mapped_at_creation: false,
        })
    }

    pub fn release(&mut self, buffer: wgpu::Buffer, batch: u64) {
        let class = buffer.size();
        if self.idle_bytes + class > MAX_IDLE_BYTES {
            buffer.destroy();
            return;
        }
        self.idle_bytes += class;
        self.idle.entry(class).or_default().push(Idle {
            buffer,
            freed_in_batch: batch,
        });
    }

    pub fn idle_bytes(&self) -> u64 {
        self.idle_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_are_stable_and_bounded() {
        assert_eq!(size_class(1), 256);
        assert_eq!(size_class(257), 512);
        assert_eq!(size_class(16 << 20), 16 << 20);
        assert_eq!(size_class((16 << 20) + 1), 32 << 20);
        assert_eq!(size_class((40 << 20) + 3), 48 << 20);
    }
}
