//! The device runtime: context, compiled kernels, the caching allocator and pinned staging.
//!
//! One [`Device`] per GPU is shared by every stream (model copy) on it. Kernels are compiled on
//! first use, one NVRTC run per (op, architecture) holding every dtype's entry point, and kept
//! loaded; CUBINs are cached on disk across runs ([`compile`]). Device buffers come from a
//! size-class [`pool`] and go back to it when a tensor's storage drops, so a steady-state forward
//! allocates nothing ([`Stats::allocations`] stops growing).

pub mod compile;
pub mod library;
pub mod pool;

use crate::error::{CudaError, Result};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, PinnedHostSlice,
};
use pool::{size_class, Pool};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Idle device memory the pool keeps for reuse before it frees buffers for real.
const MAX_IDLE_BYTES: usize = 8 << 30;
/// Pinned staging buffers kept for owned uploads.
const MAX_STAGING: usize = 8;

/// Counters for tests, benches and capacity planning.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Device allocations (pool misses): constant in steady state.
    pub allocations: u64,
    /// Requests served from the pool.
    pub reuses: u64,
    /// Kernel launches.
    pub launches: u64,
    /// Kernel files compiled by NVRTC in this process (disk-cache misses).
    pub compiled: u64,
    /// Kernel files loaded from the disk cache.
    pub cache_hits: u64,
}

/// Device memory, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryReport {
    /// The device's memory.
    pub total: u64,
    /// Free as the driver sees it (other processes included).
    pub free: u64,
    /// Held by live tensors of this process (size classes, so what is really reserved).
    pub live: u64,
    /// The highest `live` since the last [`Device::reset_peak`]: run one batch between a reset
    /// and a report to learn what that batch size needs.
    pub peak_live: u64,
    /// Idle in the pool, reusable without an allocation.
    pub pooled: u64,
}

struct Memory {
    pool: Pool<CudaSlice<u8>>,
    peak_live: usize,
}

/// A loaded entry point with its names: dereferences to cudarc's function for launching.
#[derive(Clone, Debug)]
pub(crate) struct Kernel {
    function: CudaFunction,
    /// The kernel file (`<op>.cu`), for error messages.
    pub(crate) op: &'static str,
    pub(crate) entry: Arc<str>,
}

impl std::ops::Deref for Kernel {
    type Target = CudaFunction;
    fn deref(&self) -> &CudaFunction {
        &self.function
    }
}

/// One GPU: its context and everything shared by the streams on it.
pub struct Device {
    pub(crate) ctx: Arc<CudaContext>,
    name: String,
    capability: (i32, i32),
    sm_count: usize,
    arch: String,
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
    functions: Mutex<HashMap<String, Kernel>>,
    /// Launches per entry point (which variant ran, for tests and profiles).
    launches_by_entry: Mutex<HashMap<Arc<str>, u64>>,
    memory: Mutex<Memory>,
    staging: Mutex<Vec<PinnedHostSlice<u8>>>,
    launches: AtomicU64,
    compiled: AtomicU64,
    cache_hits: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these cannot leave the data inconsistent in a way that
    // matters more than losing the device; keep going rather than poisoning every op.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Device {
    /// Opens GPU `ordinal`. Checks the driver and NVRTC libraries first (cudarc would panic
    /// without them), then the device count and the compute capability (8.0 or newer).
    pub fn open(ordinal: usize) -> Result<Arc<Device>> {
        library::require_driver()?;
        library::require_nvrtc()?;
        let count = CudaContext::device_count().map_err(CudaError::driver("device count"))?;
        if ordinal >= count.max(0) as usize {
            return Err(CudaError::NoDevice {
                ordinal,
                count: count.max(0) as usize,
            });
        }
        let ctx = CudaContext::new(ordinal).map_err(CudaError::driver("context creation"))?;
        let name = ctx.name().map_err(CudaError::driver("device name"))?;
        let (major, minor) = ctx
            .compute_capability()
            .map_err(CudaError::driver("compute capability"))?;
        if major < 8 {
            return Err(CudaError::UnsupportedArch { name, major, minor });
        }
        let sm_count = ctx
            .attribute(
                cudarc::driver::sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
            )
            .map_err(CudaError::driver("multiprocessor count"))?;
        Ok(Arc::new(Device {
            ctx,
            name,
            capability: (major, minor),
            sm_count: sm_count.max(1) as usize,
            arch: compile::arch_name(major, minor),
            modules: Mutex::default(),
            functions: Mutex::default(),
            launches_by_entry: Mutex::default(),
            memory: Mutex::new(Memory {
                pool: Pool::new(MAX_IDLE_BYTES),
                peak_live: 0,
            }),
            staging: Mutex::default(),
            launches: AtomicU64::new(0),
            compiled: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
        }))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Compute capability, e.g. `(9, 0)` for an H100/H200.
    pub fn compute_capability(&self) -> (i32, i32) {
        self.capability
    }

    /// Streaming multiprocessors (132 on an H100/H200 SXM): the matmul chooses its block tile by
    /// it (big tiles only when there are enough of them to occupy every SM).
    pub fn sm_count(&self) -> usize {
        self.sm_count
    }

    /// The CUBIN architecture kernels are compiled for, e.g. `sm_90`.
    pub fn arch(&self) -> &str {
        &self.arch
    }

    /// A device attribute (SM count, clock…), for the benches' peak figures.
    pub fn attribute(&self, attr: cudarc::driver::sys::CUdevice_attribute) -> Result<i32> {
        self.ctx
            .attribute(attr)
            .map_err(CudaError::driver("device attribute"))
    }

    /// A new stream on this device (one per model copy).
    pub fn new_stream(&self) -> Result<Arc<CudaStream>> {
        self.ctx
            .new_stream()
            .map_err(CudaError::driver("stream creation"))
    }

    pub fn stats(&self) -> Stats {
        let m = lock(&self.memory);
        Stats {
            allocations: m.pool.allocations,
            reuses: m.pool.reuses,
            launches: self.launches.load(Ordering::Relaxed),
            compiled: self.compiled.load(Ordering::Relaxed),
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
        }
    }

    pub fn memory(&self) -> Result<MemoryReport> {
        self.ctx
            .bind_to_thread()
            .map_err(CudaError::driver("memory report"))?;
        let (free, total) =
            cudarc::driver::result::mem_get_info().map_err(CudaError::driver("memory report"))?;
        let m = lock(&self.memory);
        Ok(MemoryReport {
            total: total as u64,
            free: free as u64,
            live: m.pool.live_bytes as u64,
            peak_live: m.peak_live as u64,
            pooled: m.pool.idle_bytes() as u64,
        })
    }

    /// Restarts the peak of [`MemoryReport::peak_live`] at the current live bytes.
    pub fn reset_peak(&self) {
        let mut m = lock(&self.memory);
        m.peak_live = m.pool.live_bytes;
    }

    /// Frees every idle pooled buffer (e.g. before handing the device to another process).
    pub fn release_pooled(&self) {
        let drained = lock(&self.memory).pool.drain();
        drop(drained);
    }

    // ----- kernels -------------------------------------------------------------------------

    fn module(&self, op: &'static str) -> Result<Arc<CudaModule>> {
        if let Some(m) = lock(&self.modules).get(op) {
            return Ok(m.clone());
        }
        let source = tandem_kernels::cuda::ALL
            .iter()
            .find(|(name, _)| *name == op)
            .map(|(_, s)| *s)
            .ok_or_else(|| CudaError::Unsupported {
                op,
                message: "no kernel file of that name".into(),
            })?;
        let compiled = compile::compile(op, source, &self.arch, true)?;
        let counter = if compiled.cached {
            &self.cache_hits
        } else {
            &self.compiled
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let module = self
            .ctx
            .load_module(cudarc::nvrtc::Ptx::from_binary(compiled.cubin))
            .map_err(CudaError::driver("module load"))?;
        lock(&self.modules).insert(op, module.clone());
        Ok(module)
    }

    /// The entry point `entry` of `kernels/cuda/<op>.cu`, compiling and loading it on first use.
    pub(crate) fn function(&self, op: &'static str, entry: &str) -> Result<Kernel> {
        if let Some(f) = lock(&self.functions).get(entry) {
            return Ok(f.clone());
        }
        let function =
            self.module(op)?
                .load_function(entry)
                .map_err(|e| CudaError::Unsupported {
                    op,
                    message: format!("entry point {entry} not found in {op}.cu ({e:?})"),
                })?;
        let kernel = Kernel {
            function,
            op,
            entry: entry.into(),
        };
        lock(&self.functions).insert(entry.to_string(), kernel.clone());
        Ok(kernel)
    }

    pub(crate) fn count_launch(&self, kernel: &Kernel) {
        self.launches.fetch_add(1, Ordering::Relaxed);
        *lock(&self.launches_by_entry)
            .entry(kernel.entry.clone())
            .or_default() += 1;
    }

    /// How many times the entry point `entry` (e.g. `matmul_bf16_128x128`) has been launched on
    /// this device: which variant of an op a shape took, for tests and profiles.
    pub fn launches_of(&self, entry: &str) -> u64 {
        lock(&self.launches_by_entry)
            .get(entry)
            .copied()
            .unwrap_or(0)
    }

    // ----- memory --------------------------------------------------------------------------

    /// A device buffer of at least `bytes` (its size class), from the pool when possible. On
    /// out-of-memory the idle pool is freed and the allocation retried once.
    pub(crate) fn alloc(&self, stream: &Arc<CudaStream>, bytes: usize) -> Result<CudaSlice<u8>> {
        let class = size_class(bytes);
        {
            let mut m = lock(&self.memory);
            if let Some(buf) = m.pool.take(class) {
                m.peak_live = m.peak_live.max(m.pool.live_bytes);
                return Ok(buf);
            }
        }
        // SAFETY: the buffer is uninitialised device memory; every op writes its outputs fully
        // before they are read, and uploads fill what they hand out.
        let fresh = match unsafe { stream.alloc::<u8>(class) } {
            Ok(b) => b,
            Err(_) => {
                self.release_pooled();
                // SAFETY: as above.
                unsafe { stream.alloc::<u8>(class) }.map_err(|e| {
                    match CudaError::driver("allocation")(e) {
                        CudaError::OutOfMemory { .. } => CudaError::OutOfMemory {
                            bytes: class as u64,
                        },
                        other => other,
                    }
                })?
            }
        };
        let mut m = lock(&self.memory);
        m.pool.allocated(class);
        m.peak_live = m.peak_live.max(m.pool.live_bytes);
        Ok(fresh)
    }

    /// Takes a buffer back from a dropped storage.
    pub(crate) fn release(&self, buf: CudaSlice<u8>) {
        let class = buf.len();
        let overflow = lock(&self.memory).pool.give_back(class, buf);
        drop(overflow);
    }

    /// A pinned host buffer of at least `bytes` whose previous copy (if any) has finished.
    pub(crate) fn staging(&self, bytes: usize) -> Result<PinnedHostSlice<u8>> {
        let class = size_class(bytes);
        let reused = {
            let mut s = lock(&self.staging);
            s.iter()
                .position(|b| b.len() == class)
                .map(|i| s.swap_remove(i))
        };
        match reused {
            Some(b) => Ok(b),
            // SAFETY: filled by the caller before any copy reads it.
            None => unsafe { self.ctx.alloc_pinned::<u8>(class) }
                .map_err(CudaError::driver("pinned allocation")),
        }
    }

    pub(crate) fn return_staging(&self, buf: PinnedHostSlice<u8>) {
        let mut s = lock(&self.staging);
        if s.len() < MAX_STAGING {
            s.push(buf);
        }
    }
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Device({}, {})", self.name, self.arch)
    }
}
