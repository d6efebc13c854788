// The CUDA device-code vocabulary our kernels use, defined for a host C++ compiler, so that
// `kernels/cuda/*.cu` compile unchanged into the simulator (see simulator.h). Included before
// `common.cuh`; `TANDEM_CUDA_SIM` tells the kernel sources to take the portable path where they
// would otherwise use inline PTX (`cvt` to f16/bf16, `mma.sync`, `ldmatrix`, `cp.async`).
//
// Semantics kept: every thread of a block runs as its own fiber; `__shared__` variables are one
// instance per block (blocks of a launch run one after another, launches are serialised);
// `__syncthreads` is a block barrier over the threads that have not exited; warp shuffles,
// `ldmatrix` and `mma.sync` exchange values among the 32 lanes of a warp at a warp barrier;
// `cp.async` copies complete at their `wait_group`. What is not kept:
// timing, memory-model races (fibers switch only at barriers), and the device's own rounding of
// `expf`/`erff`/`tanhf` (the host's libm is used, within the tolerances CUDA documents).

#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#define TANDEM_CUDA_SIM 1

#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// One instance per block: blocks run one at a time, so a function-local static is exactly
// CUDA's per-block shared variable.
#define __shared__ static

#ifdef TANDEM_SIM_SCAN
// Entry-point discovery: the build preprocesses each kernel file with this marker in place of
// `__global__` and collects the names that follow `extern "C" <marker> void`.
#define __global__ TANDEM_SIM_KERNEL
#else
#define __global__
#endif

namespace tandem_sim {

struct Dim3 {
    unsigned x, y, z;
};

/// The running thread's coordinates (set by the scheduler before it resumes a fiber).
struct ThreadState {
    Dim3 thread_idx, block_idx, block_dim, grid_dim;
    unsigned lane, warp;
};
/// Launches are serialised (one block runs at a time), so one pointer serves every fiber.
extern ThreadState* current;

void syncthreads();
/// Exchanges one 64-bit word per lane: writes `value` for this lane, waits for the warp, and
/// returns the word lane `src` wrote. `mask` must name every lane (as all our kernels do); a
/// partial warp or an exited lane is reported as a kernel fault.
uint64_t warp_exchange(unsigned mask, uint64_t value, unsigned src);
/// `mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}.{bf16,f16}.f32`: the warp-wide product of
/// the fragments, laid out as the PTX ISA specifies (section "Matrix Fragments for
/// mma.m16n8k16 with floating point type"). `is_bf16` picks the input format.
void mma_m16n8k16(float* c, const uint32_t* a, const uint32_t* b, bool is_bf16);
/// `cp.async.cg.shared.global [smem], [gmem], bytes, src_bytes`: queued in this thread's open
/// group and performed only when a `cp.async.wait_group` lets it complete; until then the
/// destination holds 0xff bytes, so a kernel that reads shared memory before waiting sees
/// values that cannot pass for the copied ones.
void cp_async(void* smem, const void* gmem, unsigned bytes, unsigned src_bytes);
/// `cp.async.commit_group`.
void cp_async_commit();
/// `cp.async.wait_group n`: completes this thread's committed groups but the newest `n`.
void cp_async_wait(unsigned n);
/// `ldmatrix.sync.aligned.m8n8.x4[.trans].shared.b16`: lanes 8i..8i+7 give the row addresses
/// of 8×8 matrix i; register i of lane t gets row t/4, columns 2(t%4) and 2(t%4)+1 of matrix i
/// (with `trans`: rows 2(t%4) and 2(t%4)+1 of column t/4), the lower index in the low half.
void ldmatrix_x4(uint32_t* r, const void* smem, bool trans);
/// Reports a fault in kernel code (fails the launch with CUDA_ERROR_LAUNCH_FAILED).
[[noreturn]] void fault(const char* message);

float f16_bits_to_f32(uint16_t h);
uint16_t f32_to_f16_bits(float x);
uint16_t f32_to_bf16_bits(float x);

template <typename T>
inline uint64_t to_word(T v) {
    static_assert(sizeof(T) <= 8, "shuffles move at most 64 bits");
    uint64_t w = 0;
    std::memcpy(&w, &v, sizeof(T));
    return w;
}
template <typename T>
inline T from_word(uint64_t w) {
    T v;
    std::memcpy(&v, &w, sizeof(T));
    return v;
}

}  // namespace tandem_sim

#define threadIdx (::tandem_sim::current->thread_idx)
#define blockIdx (::tandem_sim::current->block_idx)
#define blockDim (::tandem_sim::current->block_dim)
#define gridDim (::tandem_sim::current->grid_dim)

inline void __syncthreads() { ::tandem_sim::syncthreads(); }

template <typename T>
inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
    if (width != 32) ::tandem_sim::fault("__shfl_sync with a width other than 32 is not simulated");
    return ::tandem_sim::from_word<T>(::tandem_sim::warp_exchange(mask, ::tandem_sim::to_word(v), (unsigned)src & 31u));
}
template <typename T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
    if (width != 32) ::tandem_sim::fault("__shfl_xor_sync with a width other than 32 is not simulated");
    const unsigned from = (::tandem_sim::current->lane ^ (unsigned)lane_mask) & 31u;
    return ::tandem_sim::from_word<T>(::tandem_sim::warp_exchange(mask, ::tandem_sim::to_word(v), from));
}

inline float __uint_as_float(unsigned x) { return ::tandem_sim::from_word<float>(x); }
inline float __int_as_float(int x) { return ::tandem_sim::from_word<float>((unsigned)x); }
inline unsigned __float_as_uint(float x) { return (unsigned)::tandem_sim::to_word(x); }

// CUDA's integer min/max overloads (device code calls them unqualified).
template <typename T>
inline T min(T a, T b) { return b < a ? b : a; }
template <typename T>
inline T max(T a, T b) { return a < b ? b : a; }

using std::isinf;
using std::isnan;
