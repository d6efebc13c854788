//! Adapter selection: the best adapter available, or the one `TANDEM_WGPU_ADAPTER` names.

use crate::error::{Result, WgpuError};

/// Environment variable holding a case-insensitive substring of the wanted adapter's name
/// (e.g. `llvmpipe`, `nvidia`), or a device type (`discrete`, `integrated`, `cpu`).
pub const ADAPTER_ENV: &str = "TANDEM_WGPU_ADAPTER";

fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

fn describe(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type)
}

/// Picks an adapter: the one matching `wanted` if given, else the fastest kind present
/// (discrete > integrated > virtual > CPU).
pub fn select(instance: &wgpu::Instance, wanted: Option<&str>) -> Result<wgpu::Adapter> {
    let mut adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    if adapters.is_empty() {
        return Err(WgpuError::NoAdapter);
    }
    adapters.sort_by_key(|a| rank(a.get_info().device_type));
    let Some(wanted) = wanted.map(str::to_lowercase).filter(|w| !w.is_empty()) else {
        return Ok(adapters.swap_remove(0));
    };
    let matches = |a: &wgpu::Adapter| {
        let info = a.get_info();
        let kind = format!("{:?}", info.device_type).to_lowercase();
        info.name.to_lowercase().contains(&wanted)
            || kind.contains(&wanted)
            || format!("{:?}", info.backend).to_lowercase() == wanted
    };
    match adapters.iter().position(matches) {
        Some(i) => Ok(adapters.swap_remove(i)),
        None => Err(WgpuError::AdapterNotFound {
            wanted,
            available: adapters.iter().map(|a| describe(&a.get_info())).collect(),
        }),
    }
}

pub fn name(info: &wgpu::AdapterInfo) -> String {
    describe(info)
}
