// Fibers, barriers and warp collectives for the CUDA simulator (see simulator.h).
//
// A block runs as one fiber per thread on the launching OS thread. A fiber runs until it
// reaches a barrier (`__syncthreads`, or the warp barrier inside a shuffle, `ldmatrix` or
// `mma.sync`), then yields to the scheduler, which resumes, in thread order, every fiber whose
// barrier has since been released. A barrier releases when every thread of its scope that has
// not exited has arrived; a pass in which no fiber can run while some have not finished is a
// deadlock (threads waiting at barriers the others never reach), reported as a fault instead of
// hanging.

#include "simulator.h"

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

// ----- context switching ------------------------------------------------------------------
//
// On x86-64 a fiber switch saves and restores only what the System V ABI makes callee-saved
// (rbx, rbp, r12–r15, the stack pointer, MXCSR and the x87 control word): a few nanoseconds,
// where `swapcontext` makes a system call for the signal mask at every switch (most of a
// simulated kernel's time, measured). Elsewhere, <ucontext.h>.

#if defined(__x86_64__)
extern "C" void tandem_sim_switch(void** save_sp, void* load_sp);
asm(R"(
    .text
    .globl tandem_sim_switch
    .hidden tandem_sim_switch
    .type tandem_sim_switch, @function
tandem_sim_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size tandem_sim_switch, .-tandem_sim_switch
)");

namespace {
struct Context {
    void* sp = nullptr;
};
[[noreturn]] void returned_from_fiber() { std::abort(); }
// A context that starts `entry` on the given stack when first switched to: the frame
// `tandem_sim_switch` pops (control words, six registers, return address = entry), placed so
// that `entry` starts with the stack aligned as after a call.
void prepare(Context& c, char* stack, std::size_t size, void (*entry)()) {
    const uintptr_t top = ((uintptr_t)(stack + size)) & ~(uintptr_t)15;
    uint64_t* frame = (uint64_t*)(top - 72);
    const uint32_t mxcsr = 0x1f80;  // defaults: all exceptions masked, round to nearest
    const uint16_t fpucw = 0x037f;
    std::memcpy(frame, &mxcsr, 4);
    std::memcpy((char*)frame + 4, &fpucw, 2);
    for (int i = 1; i <= 6; ++i) frame[i] = 0;
    frame[7] = (uint64_t)entry;
    frame[8] = (uint64_t)&returned_from_fiber;
    c.sp = frame;
}
inline void switch_to(Context& save, Context& load) { tandem_sim_switch(&save.sp, load.sp); }
}  // namespace
#else
#include <ucontext.h>
namespace {
struct Context {
    ucontext_t uc;
};
void prepare(Context& c, char* stack, std::size_t size, void (*entry)()) {
    getcontext(&c.uc);
    c.uc.uc_stack.ss_sp = stack;
    c.uc.uc_stack.ss_size = size;
    c.uc.uc_link = nullptr;  // fibers never return: they switch back when done
    makecontext(&c.uc, entry, 0);
}
inline void switch_to(Context& save, Context& load) { swapcontext(&save.uc, &load.uc); }
}  // namespace
#endif

namespace tandem_sim {

ThreadState* current = nullptr;

namespace {

constexpr std::size_t STACK_BYTES = 256 * 1024;
constexpr unsigned MAX_THREADS = 1024;

enum class Wait { None, Block, Warp };

struct AsyncCopy {
    void* dst;
    const void* src;
    unsigned bytes, src_bytes;
};

struct Fiber {
    Context context;
    ThreadState state;
    std::vector<AsyncCopy> open;                   // cp.async not yet committed
    std::vector<std::vector<AsyncCopy>> committed;  // oldest first
    Wait wait = Wait::None;
    uint64_t generation = 0;  // of the barrier it waits at
    bool done = false;
};

struct Barrier {
    unsigned live = 0;     // threads of this scope that have not exited
    unsigned arrived = 0;  // of those, waiting now
    uint64_t generation = 0;
};

// Per-warp exchange buffers, two by barrier-generation parity: a lane that has left one
// exchange writes the next one's buffer while slower lanes still read this one.
struct Warp {
    Barrier barrier;
    unsigned lanes = 0;  // threads the warp started with
    uint64_t words[2][32];
    uint32_t a[2][32][4];
    uint32_t b[2][32][2];
};

struct Run {
    pthread_t launcher;  // the OS thread running every fiber of this launch
    const Kernel* kernel;
    void** params;
    std::vector<Fiber> fibers;
    std::vector<Warp> warps;
    Barrier block;
    Fiber* running = nullptr;
    Context scheduler;
    std::string fault;
};

Run* run = nullptr;

std::map<std::string, Kernel>& registry() {
    static std::map<std::string, Kernel> kernels;
    return kernels;
}

// Fiber stacks, kept across launches (touching fresh pages at every launch is most of a small
// launch's cost), each above an inaccessible page so that a kernel overflowing its stack faults
// (and is named by the driver's SIGSEGV report) instead of writing over its neighbour's.
struct Stack {
    char* base = nullptr;  // the usable stack, STACK_BYTES above the guard page
};
std::vector<Stack>& stacks() {
    static std::vector<Stack> s;
    return s;
}

Stack new_stack() {
    const std::size_t page = (std::size_t)sysconf(_SC_PAGESIZE);
    void* m = mmap(nullptr, STACK_BYTES + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        std::fprintf(stderr, "tandem CUDA simulator: out of memory for fiber stacks\n");
        std::abort();
    }
    mprotect(m, page, PROT_NONE);
    return Stack{static_cast<char*>(m) + page};
}

void yield() {
    Fiber* f = run->running;
    switch_to(f->context, run->scheduler);
}

// Arrives at `b`; returns once it is released (at once when this thread is the last).
void arrive(Barrier& b, Wait kind) {
    Fiber* f = run->running;
    if (++b.arrived == b.live) {
        b.arrived = 0;
        ++b.generation;
        return;
    }
    f->wait = kind;
    f->generation = b.generation;
    yield();
}

bool released(const Fiber& f) {
    switch (f.wait) {
        case Wait::None: return true;
        case Wait::Block: return run->block.generation != f.generation;
        case Wait::Warp: return run->warps[f.state.warp].barrier.generation != f.generation;
    }
    return false;
}

// An exited thread no longer counts at its barriers; the ones it was the last one missing
// release.
void leave(Barrier& b) {
    --b.live;
    if (b.arrived > 0 && b.arrived == b.live) {
        b.arrived = 0;
        ++b.generation;
    }
}

void fiber_main() {
    Fiber* f = run->running;
    run->kernel->entry(run->params);
    if (run->warps[f->state.warp].barrier.arrived > 0)
        fault("exited while other lanes of its warp wait at a warp collective (shuffle, ldmatrix or mma.sync) "
              "that needs it: undefined on a GPU");
    f->done = true;
    leave(run->block);
    leave(run->warps[f->state.warp].barrier);
    switch_to(f->context, run->scheduler);  // never resumed
    std::abort();
}

Warp& full_warp(unsigned mask, const char* what) {
    Warp& w = run->warps[current->warp];
    if (mask != 0xffffffffu) {
        std::string m = std::string(what) + " with a partial lane mask is not simulated";
        fault(m.c_str());
    }
    if (w.lanes != 32 || w.barrier.live != 32) {
        std::string m = std::string(what) +
                        " over the full mask in a warp with fewer than 32 running threads "
                        "(a partial last warp, or lanes that exited): undefined on a GPU";
        fault(m.c_str());
    }
    return w;
}

float bf16_bits_to_f32(uint16_t h) { return from_word<float>((uint64_t)h << 16); }

}  // namespace

void fault(const char* message) {
    if (run->fault.empty()) {
        char where[160];
        std::snprintf(where, sizeof where, " (thread (%u,%u,%u) of block (%u,%u,%u))", current->thread_idx.x,
                      current->thread_idx.y, current->thread_idx.z, current->block_idx.x, current->block_idx.y,
                      current->block_idx.z);
        run->fault = std::string(run->kernel->name) + ": " + message + where;
    }
    run->running->done = true;
    switch_to(run->running->context, run->scheduler);
    std::abort();  // never resumed
}

void syncthreads() { arrive(run->block, Wait::Block); }

void cp_async(void* smem, const void* gmem, unsigned bytes, unsigned src_bytes) {
    if (bytes != 16) fault("cp.async.cg of a size other than 16 bytes");
    if (src_bytes > bytes) fault("cp.async with src-size larger than cp-size");
    if ((uintptr_t)smem % bytes != 0 || (src_bytes > 0 && (uintptr_t)gmem % bytes != 0))
        fault("cp.async address not aligned to its size");
    // Until its wait_group the destination holds nothing defined: 0xff bytes (NaN in every float
    // format), so a read that comes too early sees values that cannot pass for the copied ones,
    // even where the tile held identical data before.
    std::memset(smem, 0xff, bytes);
    run->running->open.push_back(AsyncCopy{smem, gmem, bytes, src_bytes});
}

void cp_async_commit() {
    Fiber* f = run->running;
    f->committed.push_back(std::move(f->open));
    f->open.clear();
}

void cp_async_wait(unsigned n) {
    Fiber* f = run->running;
    while (f->committed.size() > n) {
        for (const AsyncCopy& c : f->committed.front()) {
            std::memcpy(c.dst, c.src, c.src_bytes);
            std::memset((char*)c.dst + c.src_bytes, 0, c.bytes - c.src_bytes);
        }
        f->committed.erase(f->committed.begin());
    }
}

void ldmatrix_x4(uint32_t* r, const void* smem, bool trans) {
    Warp& w = full_warp(0xffffffffu, "ldmatrix");
    if ((uintptr_t)smem % 16 != 0) fault("ldmatrix row address not 16-byte aligned");
    const unsigned parity = w.barrier.generation & 1, lane = current->lane;
    w.words[parity][lane] = (uint64_t)(uintptr_t)smem;
    arrive(w.barrier, Wait::Warp);
    for (unsigned i = 0; i < 4; ++i) {
        if (!trans) {
            const char* row = (const char*)(uintptr_t)w.words[parity][8 * i + lane / 4];
            std::memcpy(&r[i], row + 4 * (lane % 4), 4);
        } else {
            uint16_t lo, hi;
            const char* row0 = (const char*)(uintptr_t)w.words[parity][8 * i + 2 * (lane % 4)];
            const char* row1 = (const char*)(uintptr_t)w.words[parity][8 * i + 2 * (lane % 4) + 1];
            std::memcpy(&lo, row0 + 2 * (lane / 4), 2);
            std::memcpy(&hi, row1 + 2 * (lane / 4), 2);
            r[i] = (uint32_t)lo | ((uint32_t)hi << 16);
        }
    }
}

uint64_t warp_exchange(unsigned mask, uint64_t value, unsigned src) {
    Warp& w = full_warp(mask, "a warp shuffle");
    const unsigned parity = w.barrier.generation & 1;
    w.words[parity][current->lane] = value;
    arrive(w.barrier, Wait::Warp);
    return w.words[parity][src];
}

void mma_m16n8k16(float* c, const uint32_t* a, const uint32_t* b, bool is_bf16) {
    Warp& w = full_warp(0xffffffffu, "mma.sync");
    const unsigned parity = w.barrier.generation & 1, lane = current->lane;
    for (int i = 0; i < 4; ++i) w.a[parity][lane][i] = a[i];
    for (int i = 0; i < 2; ++i) w.b[parity][lane][i] = b[i];
    arrive(w.barrier, Wait::Warp);
    auto half = [is_bf16](uint32_t reg, unsigned k) {
        const uint16_t bits = (uint16_t)(reg >> (16 * (k & 1)));  // lower index in the low half
        return is_bf16 ? bf16_bits_to_f32(bits) : f16_bits_to_f32(bits);
    };
    const unsigned group = lane >> 2, tig = lane & 3;
    for (int e = 0; e < 4; ++e) {
        const unsigned row = group + (e >= 2 ? 8 : 0), col = tig * 2 + (e & 1);
        float acc = c[e];
        for (unsigned k = 0; k < 16; ++k) {
            // A (16×16, row-major): a0..a7 in four registers; register = (row ≥ 8) + 2·(k ≥ 8),
            // held by lane (row mod 8)·4 + (k mod 8)/2.
            const uint32_t ar = w.a[parity][(row % 8) * 4 + (k % 8) / 2][(row >= 8 ? 1 : 0) + (k >= 8 ? 2 : 0)];
            // B (16×8, column-major): b0..b3 in two registers; register = (k ≥ 8), held by
            // lane col·4 + (k mod 8)/2.
            const uint32_t br = w.b[parity][col * 4 + (k % 8) / 2][k >= 8 ? 1 : 0];
            acc = std::fma(half(ar, k), half(br, k), acc);
        }
        c[e] = acc;
    }
}

float f16_bits_to_f32(uint16_t h) {
    _Float16 v;
    std::memcpy(&v, &h, 2);
    return (float)v;
}

uint16_t f32_to_f16_bits(float x) {
    const _Float16 v = (_Float16)x;  // round to nearest even, as `cvt.rn.f16.f32`
    uint16_t h;
    std::memcpy(&h, &v, 2);
    return h;
}

uint16_t f32_to_bf16_bits(float x) {
    const uint32_t bits = (uint32_t)to_word(x);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return 0x7fff;  // `cvt.rn.bf16.f32`'s canonical NaN
    return (uint16_t)((bits + 0x7fffu + ((bits >> 16) & 1)) >> 16);
}

bool describe_running(char* out, std::size_t size) {
    // Only the launching thread runs kernel code; a fault on any other thread is not the kernel's.
    Run* r = run;
    if (!r || !current || !pthread_equal(pthread_self(), r->launcher)) return false;
    std::snprintf(out, size, "%s thread (%u,%u,%u) of block (%u,%u,%u)", run->kernel->name, current->thread_idx.x,
                  current->thread_idx.y, current->thread_idx.z, current->block_idx.x, current->block_idx.y,
                  current->block_idx.z);
    return true;
}

bool register_kernel(const char* name, const char* file, Entry entry) {
    auto [it, fresh] = registry().emplace(name, Kernel{name, file, entry});
    if (!fresh) {
        std::fprintf(stderr, "tandem CUDA simulator: entry point %s defined in both %s and %s\n", name, it->second.file,
                     file);
        std::abort();
    }
    return true;
}

const Kernel* find_kernel(const char* name) {
    auto it = registry().find(name);
    return it == registry().end() ? nullptr : &it->second;
}

std::string launch(const Kernel& kernel, Dim3 grid, Dim3 block, void** params) {
    const uint64_t threads = (uint64_t)block.x * block.y * block.z;
    if (threads == 0 || threads > MAX_THREADS || grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 ||
        grid.z > 65535 || block.z > 64) {
        char m[200];
        std::snprintf(m, sizeof m, "%s: invalid launch configuration: grid (%u,%u,%u), block (%u,%u,%u)", kernel.name,
                      grid.x, grid.y, grid.z, block.x, block.y, block.z);
        return m;
    }
    Run r;
    r.kernel = &kernel;
    r.params = params;
    r.fibers.resize(threads);
    r.warps.resize((threads + 31) / 32);
    while (stacks().size() < threads) stacks().push_back(new_stack());
    r.launcher = pthread_self();
    run = &r;
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                r.block = Barrier{(unsigned)threads, 0, 0};
                for (std::size_t w = 0; w < r.warps.size(); ++w) {
                    const unsigned lanes = (unsigned)std::min<uint64_t>(32, threads - 32 * w);
                    r.warps[w].barrier = Barrier{lanes, 0, 0};
                    r.warps[w].lanes = lanes;
                }
                for (unsigned t = 0; t < threads; ++t) {
                    Fiber& f = r.fibers[t];
                    f.state.thread_idx = Dim3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
                    f.state.block_idx = Dim3{bx, by, bz};
                    f.state.block_dim = block;
                    f.state.grid_dim = grid;
                    f.state.lane = t % 32;
                    f.state.warp = t / 32;
                    f.wait = Wait::None;
                    f.done = false;
                    f.open.clear();
                    f.committed.clear();
                    prepare(f.context, stacks()[t].base, STACK_BYTES, fiber_main);
                }
                unsigned finished = 0;
                while (finished < threads) {
                    bool progressed = false;
                    finished = 0;
                    for (Fiber& f : r.fibers) {
                        if (!f.done && released(f)) {
                            f.wait = Wait::None;
                            r.running = &f;
                            current = &f.state;
                            switch_to(r.scheduler, f.context);
                            progressed = true;
                            if (!r.fault.empty()) {
                                run = nullptr;
                                return r.fault;
                            }
                        }
                        finished += f.done;
                    }
                    if (!progressed && finished < threads) {
                        char m[240];
                        std::snprintf(m, sizeof m,
                                      "%s: deadlock in block (%u,%u,%u): %u of %u threads wait at barriers the "
                                      "others never reach (a __syncthreads or warp collective under divergent "
                                      "control flow)",
                                      kernel.name, bx, by, bz, (unsigned)threads - finished, (unsigned)threads);
                        run = nullptr;
                        return m;
                    }
                }
            }
    run = nullptr;
    return "";
}

}  // namespace tandem_sim
