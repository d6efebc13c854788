// The CUDA simulator: Tandem's kernels compiled for the host and run on fibers behind a stand-in
// for the CUDA driver library (driver.cpp), so the CUDA backend's Rust code, its NVRTC
// compilation and every kernel run end to end on a machine without a GPU. The idea is the one of
// nvcc's old `-deviceemu` mode and Numba's CUDA simulator: it checks indexing, fragment layouts,
// barriers and the host/device contract, not speed or the device's memory model.
//
// Built by `cargo xtask cuda-sim` into `target/cuda-sim/libcuda.so.1`; the tests load it in
// place of the real driver through `LD_LIBRARY_PATH` (see crates/tandem-cuda/README.md).

#pragma once

#include "device.h"

#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>

namespace tandem_sim {

/// A kernel entry point compiled for the host: runs one thread's body with the launch's
/// parameters (`params[i]` points at argument `i`, as `cuLaunchKernel` passes them).
using Entry = void (*)(void** params);

struct Kernel {
    const char* name;  // the `extern "C"` name NVRTC gives the entry point
    const char* file;  // the kernel file it comes from, for messages
    Entry entry;
};

/// Called by the generated per-file registration code at load time.
bool register_kernel(const char* name, const char* file, Entry entry);
/// The kernel of that entry-point name, or null.
const Kernel* find_kernel(const char* name);

/// Runs a whole launch (every block, one after another; every thread of a block as a fiber).
/// Returns an empty string, or what went wrong (a fault in kernel code, a deadlock at a barrier,
/// a bad launch configuration).
std::string launch(const Kernel& kernel, Dim3 grid, Dim3 block, void** params);

/// Whether the calling thread is running a kernel's fibers now; if so, writes "<kernel> thread (x,y,z) of
/// block (x,y,z)" into `out` (for the driver's fault report; no allocation, signal-safe enough
/// for a report made just before the process dies).
bool describe_running(char* out, std::size_t size);

/// Calls `f` with its arguments read from `params` (pointers to each argument, in order).
template <typename... Args, std::size_t... I>
void invoke(void (*f)(Args...), void** params, std::index_sequence<I...>) {
    f(*static_cast<std::remove_cv_t<std::remove_reference_t<Args>>*>(params[I])...);
}
template <typename... Args>
void invoke(void (*f)(Args...), void** params) {
    invoke(f, params, std::index_sequence_for<Args...>{});
}

}  // namespace tandem_sim
