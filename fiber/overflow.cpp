#include <fiber/internal/overflow.hpp>

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace csp::detail {

namespace {

struct slab {
    std::uintptr_t base;
    std::size_t stride;
    std::size_t count;
};

// Append-only, so the signal handler can read it without locks.
constexpr std::size_t max_slabs = 1 << 16;
slab slabs[max_slabs];
std::atomic<std::size_t> slab_count{0};
struct sigaction previous;

constexpr std::size_t max_traps = 256;
slab traps[max_traps];  // {base, size, 1}
std::atomic<std::size_t> trap_count{0};

const char overflow_message[] =
    "fatal error: stack overflow in a goroutine (it ran into the guard page below its stack;\n"
    "give it more with csp::go(csp::stack_size{bytes}, f) or CSP_STACK_SIZE)\n";

bool in_guard_page(std::uintptr_t addr) noexcept {
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    const std::size_t t = trap_count.load(std::memory_order_acquire);
    for (std::size_t i = 0; i < t; ++i)
        if (addr >= traps[i].base && addr < traps[i].base + traps[i].stride) return true;
    const std::size_t n = slab_count.load(std::memory_order_acquire);
    for (std::size_t i = 0; i < n; ++i) {
        const slab& s = slabs[i];
        if (addr < s.base || addr >= s.base + s.stride * s.count) continue;
        return (addr - s.base) % s.stride < page;
    }
    return false;
}

void on_segv(int sig, siginfo_t* info, void* uctx) {
    if (in_guard_page(reinterpret_cast<std::uintptr_t>(info->si_addr))) {
        (void)!::write(STDERR_FILENO, overflow_message, sizeof overflow_message - 1);
        ::signal(SIGABRT, SIG_DFL);
        ::abort();
    }
    // Not ours: hand it to whoever was there before (a sanitizer, the default).
    if (previous.sa_flags & SA_SIGINFO) {
        if (previous.sa_sigaction) {
            previous.sa_sigaction(sig, info, uctx);
            return;
        }
    } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
        previous.sa_handler(sig);
        return;
    }
    ::signal(sig, SIG_DFL);  // returning re-runs the faulting access: default action
}

}  // namespace

void note_stack_slab(const void* base, std::size_t stride, std::size_t count) noexcept {
    static std::mutex mu;
    std::lock_guard lk(mu);
    std::size_t i = slab_count.load(std::memory_order_relaxed);
    if (i == max_slabs) return;  // only reporting is lost, not the guard
    slabs[i] = slab{reinterpret_cast<std::uintptr_t>(base), stride, count};
    slab_count.store(i + 1, std::memory_order_release);
}

void note_overflow_trap(const void* base, std::size_t size) noexcept {
    static std::mutex mu;
    std::lock_guard lk(mu);
    std::size_t i = trap_count.load(std::memory_order_relaxed);
    if (i == max_traps) return;
    traps[i] = slab{reinterpret_cast<std::uintptr_t>(base), size, 1};
    trap_count.store(i + 1, std::memory_order_release);
}

void check_stack_canary(const void* stack_bottom, canary_check how) noexcept {
    if (!canary_stacks_exist.load(std::memory_order_relaxed) || !has_canary(stack_bottom)) return;
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    const std::size_t span = how == canary_check::whole ? page : 512;
    // Words, read as plain memory: nobody else writes there (but an overflow).
    const auto* end = static_cast<const std::uint64_t*>(stack_bottom);
    std::uint64_t any = 0;
    for (const std::uint64_t* w = end - span / sizeof(std::uint64_t); w != end; ++w) any |= *w;
    if (any == 0) return;
    static const char msg[] =
        "fatal error: stack overflow in a goroutine (it wrote below its stack: the canary page under\n"
        "it is damaged; give it more with csp::go(csp::stack_size{bytes}, f) or CSP_STACK_SIZE)\n";
    (void)!::write(STDERR_FILENO, msg, sizeof msg - 1);
    ::signal(SIGABRT, SIG_DFL);
    ::abort();
}

void watch_stack_overflow() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa {};
        sa.sa_sigaction = on_segv;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        ::sigaction(SIGSEGV, &sa, &previous);
    });
    // The overflowing stack cannot run the handler: give it one of its own.
    const std::size_t size = 64 * 1024;
    void* mem = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return;
    stack_t ss{};
    ss.ss_sp = mem;
    ss.ss_size = size;
    ::sigaltstack(&ss, nullptr);
}

}  // namespace csp::detail
