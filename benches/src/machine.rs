//! What this machine can do at most: the theoretical f32 FLOP/s peak the benchmarks are
//! measured against, from `/proc/cpuinfo` (what `lscpu` reads) plus the probes in
//! [`crate::probe`].
//!
//! `peak = physical cores × FMA units per core × f32 SIMD lanes × 2 (an FMA is 2 flops) × clock`.

use std::collections::BTreeSet;

/// The facts `/proc/cpuinfo` gives us.
#[derive(Clone, Debug, PartialEq)]
pub struct CpuInfo {
    pub model: String,
    /// Distinct (physical id, core id) pairs: hyperthreads share FMA units, so they do not count.
    pub physical_cores: usize,
    pub logical_cpus: usize,
    /// The `cpu MHz` field: the nominal (TSC) clock on VMs, the current one on bare metal.
    pub mhz: Option<f64>,
    pub avx512f: bool,
    pub avx2: bool,
    pub fma: bool,
}

impl CpuInfo {
    /// Parses `/proc/cpuinfo` text (x86 field names; other architectures get what matches).
    pub fn parse(text: &str) -> CpuInfo {
        let mut info = CpuInfo {
            model: String::from("unknown"),
            physical_cores: 0,
            logical_cpus: 0,
            mhz: None,
            avx512f: false,
            avx2: false,
            fma: false,
        };
        let mut cores = BTreeSet::new();
        let mut phys = String::new();
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            match key {
                "processor" => info.logical_cpus += 1,
                "model name" => info.model = value.to_string(),
                "cpu MHz" if info.mhz.is_none() => info.mhz = value.parse().ok(),
                "physical id" => phys = value.to_string(),
                "core id" => {
                    cores.insert((phys.clone(), value.to_string()));
                }
                "flags" => {
                    let flags: BTreeSet<&str> = value.split_whitespace().collect();
                    info.avx512f = flags.contains("avx512f");
                    info.avx2 = flags.contains("avx2");
                    info.fma = flags.contains("fma");
                }
                _ => {}
            }
        }
        info.physical_cores = if cores.is_empty() {
            info.logical_cpus
        } else {
            cores.len()
        };
        info
    }

    /// Reads `/proc/cpuinfo`; `None` where it does not exist (not Linux).
    pub fn read() -> Option<CpuInfo> {
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .map(|t| CpuInfo::parse(&t))
    }

    /// f32 lanes of the widest FMA the CPU advertises (AVX-512: 16, AVX2+FMA: 8, else SSE's 4).
    pub fn f32_lanes(&self) -> usize {
        if self.avx512f {
            16
        } else if self.avx2 && self.fma {
            8
        } else {
            4
        }
    }
}

/// `cores × fma_units × lanes × 2 × hz`, in FLOP/s.
pub fn peak_flops(cores: usize, fma_units: usize, lanes: usize, hz: f64) -> f64 {
    (cores * fma_units * lanes * 2) as f64 * hz
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_CORES: &str = "processor\t: 0\nmodel name\t: Test CPU\ncpu MHz\t\t: 2100.000\nphysical id\t: 0\n\
        core id\t\t: 0\nflags\t\t: fpu sse avx2 fma avx512f\n\nprocessor\t: 1\nmodel name\t: Test CPU\n\
        cpu MHz\t\t: 2100.000\nphysical id\t: 0\ncore id\t\t: 1\nflags\t\t: fpu sse avx2 fma avx512f\n";

    #[test]
    fn parses_cores_clock_and_simd_width() {
        let info = CpuInfo::parse(TWO_CORES);
        assert_eq!(info.model, "Test CPU");
        assert_eq!((info.physical_cores, info.logical_cpus), (2, 2));
        assert_eq!(info.mhz, Some(2100.0));
        assert_eq!(info.f32_lanes(), 16);
    }

    #[test]
    fn hyperthreads_share_a_core() {
        let ht = TWO_CORES.replace("core id\t\t: 1", "core id\t\t: 0");
        let info = CpuInfo::parse(&ht);
        assert_eq!((info.physical_cores, info.logical_cpus), (1, 2));
    }

    #[test]
    fn avx2_only_has_eight_lanes() {
        let info = CpuInfo::parse(&TWO_CORES.replace(" avx512f", ""));
        assert_eq!(info.f32_lanes(), 8);
    }

    #[test]
    fn peak_formula() {
        // 2 cores × 2 FMA units × 16 lanes × 2 flops × 2.1 GHz.
        assert_eq!(peak_flops(2, 2, 16, 2.1e9), 268.8e9);
    }
}
