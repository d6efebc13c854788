//! The device runtime: adapter and device, pipeline cache, buffer pool, and batched command
//! encoding.
//!
//! Ops record their dispatches into one shared command encoder; it is submitted only at sync
//! points (a read-back or `synchronize`) or when a batch reaches [`MAX_DISPATCHES`] dispatches,
//! so a model forward is a handful of submissions instead of one per op. Each dispatch's
//! parameters go into a 256-byte slot of a per-batch uniform buffer that is written once,
//! right before its batch is submitted.

pub mod adapter;
pub mod kernel;
pub mod pool;

use crate::error::{Result, WgpuError};
use kernel::KernelSpec;
use pool::Pool;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Dispatches recorded before a batch is submitted without waiting for a sync point.
pub const MAX_DISPATCHES: u64 = 512;
/// Bytes of uniform parameters per dispatch (the uniform-offset alignment of every adapter).
pub const PARAM_SLOT: u64 = 256;

/// Counters for tests, benches and the design note.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Command buffers submitted to the queue.
    pub submissions: u64,
    /// Compute dispatches recorded.
    pub dispatches: u64,
    /// Device buffers created (pool misses).
    pub buffers_created: u64,
    /// Buffers served from the pool.
    pub buffers_reused: u64,
    /// Pipelines compiled (cache misses).
    pub pipelines_compiled: u64,
}

struct Batch {
    encoder: Option<wgpu::CommandEncoder>,
    params: Vec<u8>,
    params_buffer: Option<wgpu::Buffer>,
    dispatches: u64,
}

struct Layouts {
    bind_group: wgpu::BindGroupLayout,
    pipeline: wgpu::PipelineLayout,
}

pub struct Context {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    /// Whether `f16` tensors are stored natively (`shader-f16`).
    pub native_f16: bool,
    pool: Mutex<Pool>,
    staging: Mutex<Vec<wgpu::Buffer>>,
    batch: Mutex<Batch>,
    /// Id of the batch now being recorded; a buffer freed in batch `b` is clean once `b` is submitted.
    batch_id: AtomicU64,
    pipelines: Mutex<HashMap<String, Arc<wgpu::ComputePipeline>>>,
    layouts: Mutex<HashMap<(u32, u32), Arc<Layouts>>>,
    errors: Arc<Mutex<Vec<String>>>,
    /// Set by the device's error callback when an allocation failed for lack of memory; read
    /// (and cleared) by [`Context::acquire`] so the caller gets a structured out-of-memory error.
    out_of_memory: Arc<AtomicBool>,
    submissions: AtomicU64,
    dispatches: AtomicU64,
    compiled: AtomicU64,
    /// Bound in place of an absent optional operand (no bias, no mask).
    pub dummy: wgpu::Buffer,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave the data half-updated in a way
    // that matters more than losing the device; keep going rather than poisoning every op.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Context {
    pub fn new(wanted: Option<&str>) -> Result<Context> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = adapter::select(&instance, wanted)?;
        let info = adapter.get_info();
        let native_f16 = adapter.features().contains(wgpu::Features::SHADER_F16);
        let features = if native_f16 {
            wgpu::Features::SHADER_F16
        } else {
            wgpu::Features::empty()
        };
        let limits = adapter.limits();
        let desc = wgpu::DeviceDescriptor {
            label: Some("tandem"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        };
        let (device, queue) =
            pollster::block_on(adapter.request_device(&desc)).map_err(|source| {
                WgpuError::RequestDevice {
                    adapter: adapter::name(&info),
                    source,
                }
            })?;
        let errors: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = errors.clone();
        let out_of_memory = Arc::new(AtomicBool::new(false));
        let oom = out_of_memory.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if matches!(e, wgpu::Error::OutOfMemory { .. }) {
                oom.store(true, Ordering::Release);
            } else {
                lock(&sink).push(e.to_string());
            }
        }));
        let dummy = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("tandem-dummy"),
            size: 256,
            usage: pool::USAGE,
            mapped_at_creation: false,
        });
        Ok(Context {
            device,
            queue,
            info,
            limits,
            native_f16,
            pool: Mutex::default(),
            staging: Mutex::default(),
            batch: Mutex::new(Batch {
                encoder: None,
                params: Vec::new(),
                params_buffer: None,
                dispatches: 0,
            }),
            batch_id: AtomicU64::new(0),
            pipelines: Mutex::default(),
            layouts: Mutex::default(),
            errors,
            out_of_memory,
            submissions: AtomicU64::new(0),
            dispatches: AtomicU64::new(0),
            compiled: AtomicU64::new(0),
            dummy,
        })
    }

    pub fn stats(&self) -> Stats {
        let pool = lock(&self.pool);
        Stats {
            submissions: self.submissions.load(Ordering::Relaxed),
            dispatches: self.dispatches.load(Ordering::Relaxed),
            buffers_created: pool.created,
            buffers_reused: pool.reused,
            pipelines_compiled: self.compiled.load(Ordering::Relaxed),
        }
    }

    /// Fails with the first device error reported since the last check.
    pub fn check_errors(&self) -> Result<()> {
        let mut errs = lock(&self.errors);
        if errs.is_empty() {
            return Ok(());
        }
        let message = errs.join("; ");
        errs.clear();
        Err(WgpuError::Device { message })
    }

    // ----- buffers -------------------------------------------------------------------------

    /// A pooled buffer of at least `bytes`; `host_write` when it will be filled by
    /// `queue.write_buffer` (see the pool's docs for why that matters).
    pub fn acquire(&self, op: &'static str, bytes: u64, host_write: bool) -> Result<wgpu::Buffer> {
        let class = pool::size_class(bytes);
        let limit = self
            .limits
            .max_buffer_size
            .min(self.limits.max_storage_buffer_binding_size);
        if class > limit {
            return Err(WgpuError::TooLarge { op, bytes, limit });
        }
        let clean = host_write.then(|| self.batch_id.load(Ordering::Acquire));
        let buffer = lock(&self.pool).acquire(&self.device, class, clean);
        if self.out_of_memory.swap(false, Ordering::AcqRel) {
            return Err(WgpuError::OutOfMemory { bytes: class });
        }
        Ok(buffer)
    }

    pub fn release(&self, buffer: wgpu::Buffer) {
        let batch = self.batch_id.load(Ordering::Acquire);
        lock(&self.pool).release(buffer, batch);
    }

    pub fn idle_bytes(&self) -> u64 {
        lock(&self.pool).idle_bytes()
    }

    // ----- pipelines -----------------------------------------------------------------------

    fn layouts(&self, inputs: u32, outputs: u32) -> Arc<Layouts> {
        let mut cache = lock(&self.layouts);
        cache
            .entry((inputs, outputs))
            .or_insert_with(|| {
                let storage = |binding: u32, read_only: bool| wgpu::BindGroupLayoutEntry {
                    binding,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                };
                let mut entries = vec![wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                }];
                entries.extend((1..=inputs).map(|b| storage(b, true)));
                entries.extend((inputs + 1..=inputs + outputs).map(|b| storage(b, false)));
                let bind_group =
                    self.device
                        .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                            label: None,
                            entries: &entries,
                        });
                let pipeline =
                    self.device
                        .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                            label: None,
                            bind_group_layouts: &[Some(&bind_group)],
                            immediate_size: 0,
                        });
                Arc::new(Layouts {
                    bind_group,
                    pipeline,
                })
            })
            .clone()
    }

    fn pipeline(&self, spec: &KernelSpec) -> Result<Arc<wgpu::ComputePipeline>> {
        let key = spec.key();
        if let Some(p) = lock(&self.pipelines).get(&key) {
            return Ok(p.clone());
        }
        let layouts = self.layouts(spec.inputs, spec.outputs);
        self.check_errors()?;
        let source = spec.source();
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(spec.name),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(spec.name),
                layout: Some(&layouts.pipeline),
                module: &module,
                entry_point: Some(spec.entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: spec.constants,
                    ..Default::default()
                },
                cache: None,
            });
        self.check_errors().map_err(|e| WgpuError::Kernel {
            kernel: key.clone(),
            message: e.to_string(),
        })?;
        self.compiled.fetch_add(1, Ordering::Relaxed);
        let pipeline = Arc::new(pipeline);
        lock(&self.pipelines).insert(key, pipeline.clone());
        Ok(pipeline)
    }

    // ----- recording -----------------------------------------------------------------------

    /// Records one dispatch of `spec` over `groups` workgroups with `params` (≤ 256 bytes of
    /// uniform data) and `buffers` bound at 1, 2, … in order.
    pub fn dispatch(
        &self,
        spec: &KernelSpec,
        params: &[u8],
        buffers: &[&wgpu::Buffer],
        groups: [u32; 3],
    ) -> Result<()> {
        if groups.contains(&0) {
            return Ok(());
        }
        let max = self.limits.max_compute_workgroups_per_dimension;
        if groups.iter().any(|&g| g > max) {
            return Err(WgpuError::Unsupported {
                op: spec.name,
                message: format!("grid {groups:?} exceeds {max} per dimension"),
            });
        }
        debug_assert!(params.len() as u64 <= PARAM_SLOT);
        debug_assert_eq!(buffers.len() as u32, spec.inputs + spec.outputs);
        let pipeline = self.pipeline(spec)?;
        let layouts = self.layouts(spec.inputs, spec.outputs);
        let mut batch = lock(&self.batch);
        if batch.dispatches >= MAX_DISPATCHES {
            self.submit(&mut batch)?;
        }
        if batch.params_buffer.is_none() {
            batch.params_buffer =
                Some(self.acquire("params", MAX_DISPATCHES * PARAM_SLOT, true)?);
        }
        let slot = batch.dispatches * PARAM_SLOT;
        batch.params.resize((slot + PARAM_SLOT) as usize, 0);
        batch.params[slot as usize..slot as usize + params.len()].copy_from_slice(params);
        let Batch {
            encoder,
            params_buffer,
            ..
        } = &mut *batch;
        let Some(params_buffer) = params_buffer.as_ref() else {
            return Err(WgpuError::Device {
                message: "params buffer missing".into(),
            });
        };
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: params_buffer,
                offset: slot,
                size: wgpu::BufferSize::new(PARAM_SLOT),
            }),
        }];
        entries.extend(
            buffers
                .iter()
                .enumerate()
                .map(|(i, b)| wgpu::BindGroupEntry {
                    binding: i as u32 + 1,
                    resource: b.as_entire_binding(),
                }),
        );
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &layouts.bind_group,
            entries: &entries,
        });
        let encoder =
            encoder.get_or_insert_with(|| self.device.create_command_encoder(&Default::default()));
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(spec.name),
                timestamp_writes: None,
            });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        }
        batch.dispatches += 1;
        self.dispatches.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Records a buffer-to-buffer copy (offsets and size multiples of 4).
    pub fn copy(
        &self,
        src: &wgpu::Buffer,
        src_offset: u64,
        dst: &wgpu::Buffer,
        dst_offset: u64,
        size: u64,
    ) {
        if size == 0 {
            return;
        }
        let mut batch = lock(&self.batch);
        let encoder = batch
            .encoder
            .get_or_insert_with(|| self.device.create_command_encoder(&Default::default()));
        encoder.copy_buffer_to_buffer(src, src_offset, dst, dst_offset, size);
    }

    fn submit(&self, batch: &mut Batch) -> Result<()> {
        let Some(encoder) = batch.encoder.take() else {
            return Ok(());
        };
        if let Some(params) = batch.params_buffer.take() {
            if !batch.params.is_empty() {
                self.queue.write_buffer(&params, 0, &batch.params);
            }
            self.release(params);
        }
        batch.params.clear();
        batch.dispatches = 0;
        self.queue.submit([encoder.finish()]);
        self.batch_id.fetch_add(1, Ordering::AcqRel);
        self.submissions.fetch_add(1, Ordering::Relaxed);
        self.check_errors()
    }

    /// Submits everything recorded so far (without waiting).
    pub fn flush(&self) -> Result<()> {
        let mut batch = lock(&self.batch);
        self.submit(&mut batch)
    }

    /// Submits and waits for the device to finish.
    pub fn synchronize(&self) -> Result<()> {
        self.flush()?;
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| WgpuError::Device {
                message: e.to_string(),
            })?;
        self.check_errors()
    }

    /// Copies `size` bytes at `offset` (multiples of 4) of `src` to the host; a sync point.
    pub fn read(&self, src: &wgpu::Buffer, offset: u64, size: u64) -> Result<Vec<u8>> {
        if size == 0 {
            return Ok(Vec::new());
        }
        let class = pool::size_class(size);
        let staging = {
            let mut s = lock(&self.staging);
            match s.iter().position(|b| b.size() == class) {
                Some(i) => s.swap_remove(i),
                None => self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("tandem-readback"),
                    size: class,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
            }
        };
        {
            let mut batch = lock(&self.batch);
            let encoder = batch
                .encoder
                .get_or_insert_with(|| self.device.create_command_encoder(&Default::default()));
            encoder.copy_buffer_to_buffer(src, offset, &staging, 0, size);
            self.submit(&mut batch)?;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, 0..size, move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| WgpuError::Readback {
                bytes: size,
                message: e.to_string(),
            })?;
        let mapped = rx.recv().map_err(|e| WgpuError::Readback {
            bytes: size,
            message: e.to_string(),
        })?;
        mapped.map_err(|e| WgpuError::Readback {
            bytes: size,
            message: e.to_string(),
        })?;
        let bytes = staging
            .slice(0..size)
            .get_mapped_range()
            .map_err(|e| WgpuError::Readback {
                bytes: size,
                message: e.to_string(),
            })?
            .to_vec();
        staging.unmap();
        let mut s = lock(&self.staging);
        if s.len() < 8 {
            s.push(staging);
        }
        drop(s);
        self.check_errors()?;
        Ok(bytes)
    }
}
