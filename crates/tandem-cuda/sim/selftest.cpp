// The simulator's own checks, each shown to fire: kernels written wrong on purpose (threads
// split between a barrier and a shuffle, a full-mask shuffle in a partial warp, lanes exiting
// while their warp waits at a shuffle, shared memory read before its cp.async completes) and
// right (a block reduction through shared memory, warp shuffles, ldmatrix against its
// definition). `cargo xtask cuda-sim` builds and runs this after the library; a failure fails
// the build. It reports on stderr: the command's stdout is only the
// library's folder, for `LD_LIBRARY_PATH=$(cargo xtask cuda-sim)`.

#include "simulator.h"

#include <cstdio>
#include <string>

namespace kernels {

// Half of warp 0 waits at the block barrier, the other half at a shuffle that needs the first
// half: a deadlock on a GPU too. (A barrier that some threads skip by exiting is not one: exited
// threads no longer count, in the simulator as on sm_70 and later.)
void divergent_barrier(int* out) {
    if (threadIdx.x < 16)
        __syncthreads();
    else
        out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, (int)threadIdx.x, 1);
}

void shuffle_in_partial_warp(int* out) {  // launched with 48 threads: the second warp has 16
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, (int)threadIdx.x, 1);
}

void block_sum(float* out) {
    __shared__ float s[64];
    s[threadIdx.x] = (float)threadIdx.x;
    __syncthreads();
    if (threadIdx.x == 0) {
        float t = 0.0f;
        for (int i = 0; i < 64; ++i) t += s[i];
        out[0] = t;
    }
}

void warp_sums(int* out) {
    int v = (int)threadIdx.x;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    out[threadIdx.x] = v;
}

// The upper half of a warp exits while the lower half waits at a shuffle that reads from it.
void lanes_exit_during_a_shuffle(int* out) {
    if (threadIdx.x >= 16) return;
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, (int)threadIdx.x, 16);
}

// Thread 0 copies 16 bytes into shared memory that already holds them; before the wait it must
// see something else.
void cp_async_before_and_after_wait(const int* src, int* out) {
    __shared__ __align__(16) int tile[4];
    if (threadIdx.x != 0) return;
    tile[0] = src[0];
    tandem_sim::cp_async(tile, src, 16, 16);
    tandem_sim::cp_async_commit();
    out[0] = tile[0];
    tandem_sim::cp_async_wait(0);
    out[1] = tile[0];
}

// Lane t reads ldmatrix.x4 of four 8×8 matrices of u16 whose element (r, c) of matrix i is
// 1000·i + 8·r + c, and checks both forms against the PTX ISA's definition.
void ldmatrix_layout(int* out) {
    __shared__ __align__(16) uint16_t m[4][8][8];
    const unsigned lane = threadIdx.x;
    for (unsigned e = lane; e < 256; e += 32) m[e / 64][(e / 8) % 8][e % 8] = (uint16_t)(1000 * (e / 64) + e % 64);
    __syncthreads();
    uint32_t r[4], t[4];
    tandem_sim::ldmatrix_x4(r, &m[lane / 8][lane % 8][0], false);
    tandem_sim::ldmatrix_x4(t, &m[lane / 8][lane % 8][0], true);
    int bad = 0;
    for (unsigned i = 0; i < 4; ++i) {
        const unsigned row = lane / 4, col = 2 * (lane % 4);
        bad += (r[i] & 0xffff) != 1000 * i + 8 * row + col || (r[i] >> 16) != 1000 * i + 8 * row + col + 1;
        // Transposed: rows 2(t%4) and 2(t%4)+1 of column t/4.
        bad += (t[i] & 0xffff) != 1000 * i + 8 * col + row || (t[i] >> 16) != 1000 * i + 8 * (col + 1) + row;
    }
    out[lane] = bad;
}

}  // namespace kernels

namespace {

int failures = 0;

template <typename... Args>
std::string run(const char* name, void (*f)(Args...), unsigned threads, void** params) {
    static void (*fn)(Args...);
    fn = f;
    const tandem_sim::Kernel k{name, "selftest.cpp", [](void** p) { tandem_sim::invoke(fn, p); }};
    return tandem_sim::launch(k, {1, 1, 1}, {threads, 1, 1}, params);
}

void expect(bool ok, const char* what, const std::string& detail) {
    std::fprintf(stderr, "%s: %s%s%s\n", ok ? "ok  " : "FAIL", what, detail.empty() ? "" : " — ", detail.c_str());
    failures += !ok;
}

}  // namespace

int main() {
    int out[64] = {0};
    int* outp = out;
    void* p_out[] = {&outp};

    std::string fault = run("divergent_barrier", kernels::divergent_barrier, 64, p_out);
    expect(fault.find("deadlock") != std::string::npos, "half a warp at a barrier, half at a shuffle: a deadlock", fault);

    fault = run("shuffle_in_partial_warp", kernels::shuffle_in_partial_warp, 48, p_out);
    expect(fault.find("fewer than 32") != std::string::npos, "a full-mask shuffle in a partial warp is a fault", fault);

    fault = run("lanes_exit_during_a_shuffle", kernels::lanes_exit_during_a_shuffle, 32, p_out);
    expect(fault.find("exited while other lanes") != std::string::npos,
           "lanes exiting while their warp waits at a shuffle is a fault", fault);

    float sum = 0.0f;
    float* sump = &sum;
    void* p_sum[] = {&sump};
    fault = run("block_sum", kernels::block_sum, 64, p_sum);
    expect(fault.empty() && sum == 2016.0f, "a block sum through shared memory", fault);

    fault = run("warp_sums", kernels::warp_sums, 64, p_out);
    expect(fault.empty() && out[0] == 496 && out[31] == 496 && out[32] == 1520 && out[63] == 1520,
           "warp shuffles reduce within each warp", fault);

    const int src[4] = {7, 8, 9, 10};
    const int* srcp = src;
    void* p_copy[] = {&srcp, &outp};
    fault = run("cp_async_before_and_after_wait", kernels::cp_async_before_and_after_wait, 32, p_copy);
    expect(fault.empty() && out[0] == -1 && out[1] == 7, "cp.async lands only at its wait_group (0xff before)",
           fault);

    for (int& o : out) o = -1;
    fault = run("ldmatrix_layout", kernels::ldmatrix_layout, 32, p_out);
    int bad = 0;
    for (int i = 0; i < 32; ++i) bad += out[i];
    expect(fault.empty() && bad == 0, "ldmatrix.x4 and .trans give the PTX ISA's fragments", fault);

    std::fprintf(stderr, "%d check(s) failed\n", failures);
    return failures == 0 ? 0 : 1;
}
