// Goroutine stacks: carved from slabs (one mapping for many stacks, so a
// million goroutines stay far below vm.max_map_count), each with a guard
// below it, recycled through a per-thread cache and a free list per size
// class. Pages cost memory only once touched, and go back to the system
// when many stacks lie unused.
//
// Guards, best first (CSP_STACK_GUARD=mprotect or =canary forces the later
// ones, for tests):
//  1. MADV_GUARD_INSTALL (Linux 6.13+): a guard page without a mapping of
//     its own. An overflow faults; the SIGSEGV handler reports it. A slab's
//     guards go in with one process_madvise() on the own process (6.13 takes
//     any advice for it), else one madvise() each (CSP_STACK_GUARD=madvise
//     forces that, for tests): a syscall per slab, not per stack.
//  2. mprotect(PROT_NONE): splits the slab's mapping around every guard, two
//     mappings per stack. Used while the slabs so guarded stay within half
//     of vm.max_map_count (the rest is the program's), ~16,000 stacks by
//     default.
//  3. A canary: the page below the stack is left untouched, so it reads as
//     zeros (without costing memory: the kernel's zero page). It is checked
//     when the goroutine parks (the bytes right below the stack) and when it
//     exits (the whole page): an overflow is reported then, after the fact.
//     Canary slabs come from large reservations (few mappings, and a stack's
//     kind is an address-range test). Weaker than a guard: a frame that
//     jumps over the page, or an overflow that corrupts a neighbour before
//     the next check, is not stopped in time.
//
// Free stacks are linked through their own top bytes, so freeing one takes
// no allocation and almost no stack (Boost frees a fiber's stack from its
// last frames). Beyond `dirty_limit` free stacks of a size, the older half
// is handed back to the system (MADV_DONTNEED) and kept as clean stacks,
// listed outside their memory; csp::free_os_memory() releases them all.
//
// A fresh stack's cost is kernel work: mapping, the guard, the first touch
// of its top page. A process that keeps needing fresh ones gets a thread
// that does it ahead of demand (the reserve, below), off the spawning thread.
#include <fiber/go.hpp>
#include <fiber/memory.hpp>

#include <malloc.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <condition_variable>
#include <mutex>
#include <new>
#include <thread>
#include <tuple>
#include <utility>

#include <fiber/detail/spin_mutex.hpp>
#include <fiber/internal/goroutine.hpp>
#include <fiber/internal/goroutine_pool.hpp>
#include <fiber/internal/overflow.hpp>
#include <fiber/internal/runtime.hpp>
#include <fiber/internal/stack_reserve.hpp>
#include <fiber/internal/sched.hpp>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/lsan_interface.h>
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102  // Linux 6.13: guard pages without a mapping each
#endif
#ifndef MADV_GUARD_REMOVE
#define MADV_GUARD_REMOVE 103
#endif

namespace csp::detail {

namespace {

constexpr std::size_t max_stacks_per_slab = 64;
constexpr std::size_t slab_bytes_target = 64u << 20;  // fewer stacks per slab when they are big
constexpr std::size_t thread_cache_limit = 256;
// Default-size stacks a thread cache moves to or from its size class under
// one lock (Go's stackcacherefill and stackcacherelease move half a cache):
// a thread that spawns more than it frees (or frees what another spawned)
// takes the lock once per batch, not once per stack.
constexpr std::size_t cache_batch = thread_cache_limit / 2;
constexpr std::size_t max_size_classes = 256;   // 4 per power of two: every size fits
constexpr std::size_t dirty_limit = 1024;       // free stacks of a size kept with their pages
constexpr std::size_t canary_arena_bytes = 16ull << 30;

std::size_t page_size() noexcept {
    static const std::size_t p = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return p;
}

std::size_t round_to_pages(std::size_t n) noexcept {
    const std::size_t p = page_size();
    return (n + p - 1) / p * p;
}

/// A free stack, stored at its own top (sp - sizeof(free_stack)).
struct free_stack {
    free_stack* next;
};

free_stack* node_of(void* sp) noexcept { return static_cast<free_stack*>(sp) - 1; }
void* sp_of(free_stack* n) noexcept { return n + 1; }

/// Free stacks of one size: dirty ones (pages maybe resident, linked
/// through their tops) and clean ones (pages returned, listed here).
/// Trivially destructible, never freed: scheduler threads may free
/// stacks during static destruction.
struct size_class {
    spin_mutex mu;
    std::size_t size = 0;  // 0: slot unused
    free_stack* dirty = nullptr;
    std::size_t dirty_count = 0;
    void** clean = nullptr;  // malloc'ed
    std::size_t clean_count = 0;
    std::size_t clean_capacity = 0;

    /// Lists `n` dirty stacks linked first..last (last's link is
    /// overwritten) in front of the others. Under `mu`.
    void add_dirty(free_stack* first, free_stack* last, std::size_t n) noexcept {
        last->next = dirty;
        dirty = first;
        dirty_count += n;
    }
};

size_class classes[max_size_classes];
std::mutex classes_mu;

/// Sizes other than the default are rounded up to one of 4 steps per power
/// of two: a bounded number of classes, at most 25% more address space
/// (not memory: untouched pages cost nothing).
std::size_t class_size(std::size_t size) noexcept {
    const std::size_t sz = round_to_pages(size);
    if (sz == default_stack_size()) return sz;
    const std::size_t step = std::max(std::bit_floor(sz) / 4, page_size());
    return (sz + step - 1) / step * step;
}

size_class& class_of(std::size_t size) {
    for (size_class& c : classes) {  // lock-free look-up of an existing class
        const std::size_t s = __atomic_load_n(&c.size, __ATOMIC_ACQUIRE);
        if (s == size) return c;
        if (s == 0) break;  // classes fill in order
    }
    std::lock_guard lk(classes_mu);
    for (size_class& c : classes) {
        if (c.size == size) return c;
        if (c.size == 0) {
            __atomic_store_n(&c.size, size, __ATOMIC_RELEASE);
            return c;
        }
    }
    throw std::bad_alloc();  // unreachable: class_size makes < 256 sizes
}

/// class_of(size), without the search when it is the default size (a
/// spawning thread whose cache runs dry, or full, comes here per stack).
size_class& class_for(std::size_t size) {
    if (size != default_stack_size()) return class_of(size);
    static size_class& c = class_of(size);
    return c;
}

// ---- guards -------------------------------------------------------------

enum class guard_mode { guard_install, guard_install_each, mprotect, canary };

guard_mode configured_guard() noexcept {
    static const guard_mode m = [] {
        const char* e = std::getenv("CSP_STACK_GUARD");
        if (e && std::strcmp(e, "madvise") == 0) return guard_mode::guard_install_each;
        if (e && std::strcmp(e, "mprotect") == 0) return guard_mode::mprotect;
        if (e && std::strcmp(e, "canary") == 0) return guard_mode::canary;
        return guard_mode::guard_install;
    }();
    return m;
}

std::atomic<bool> guard_install_works{true};

/// Mappings the mprotect guards may still take: half of vm.max_map_count.
std::atomic<long>& mprotect_budget() noexcept {
    static std::atomic<long> left = [] {
        long max_maps = 65530;
        std::ifstream in("/proc/sys/vm/max_map_count");
        if (long v = 0; in >> v && v > 0) max_maps = v;
        return max_maps / 2;
    }();
    return left;
}

bool take_budget(long maps) noexcept {
    std::atomic<long>& b = mprotect_budget();
    long left = b.load(std::memory_order_relaxed);
    while (left >= maps)
        if (b.compare_exchange_weak(left, left - maps, std::memory_order_relaxed)) return true;
    return false;
}

/// process_madvise() on the own process: how the pidfd is named. The
/// PIDFD_SELF sentinel (Linux 6.14+) costs no descriptor; before it, a
/// pidfd opened per call (not cached: a forked child must not name its
/// parent). `none`: the kernel takes no batched advice (before 6.13).
enum class self_pidfd { sentinel, opened, none };
std::atomic<self_pidfd> batch_advice{self_pidfd::sentinel};
constexpr int pidfd_self_process = -10001;  // PIDFD_SELF_THREAD_GROUP

/// `advice` on `n` ranges of this process in one call; the bytes advised
/// (the first ranges, in order), or -1 and errno. Falls back (for good)
/// from the sentinel to an opened pidfd, and from that to none.
long advise_ranges(const iovec* ranges, std::size_t n, int advice) noexcept {
    for (;;) {
        const self_pidfd how = batch_advice.load(std::memory_order_relaxed);
        if (how == self_pidfd::none) {
            errno = ENOSYS;
            return -1;
        }
        int fd = pidfd_self_process;
        if (how == self_pidfd::opened && (fd = static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0))) < 0) {
            batch_advice.store(self_pidfd::none, std::memory_order_relaxed);
            continue;
        }
        const long r = ::syscall(SYS_process_madvise, fd, ranges, n, advice, 0u);
        const int err = errno;
        if (how == self_pidfd::opened) ::close(fd);
        errno = err;
        if (r >= 0) return r;
        if (err == EBADF && how == self_pidfd::sentinel) {  // a kernel without PIDFD_SELF
            batch_advice.store(self_pidfd::opened, std::memory_order_relaxed);
            continue;
        }
        if (err == ENOSYS || err == EPERM ||
            (err == EINVAL && (advice == MADV_GUARD_INSTALL || advice == MADV_DONTNEED)))
            batch_advice.store(self_pidfd::none, std::memory_order_relaxed);  // before 6.13, or a sandbox
        return -1;
    }
}

/// MADV_DONTNEED on `n` ranges of equal length: in one call where the
/// kernel takes it (6.16 and later also flush the TLBs once for the lot, not
/// once per range: with several scheduler threads each flush interrupts the
/// others, which a VM makes dear), else (and for what the call left) one
/// madvise() each.
void drop_pages(const iovec* ranges, std::size_t n) noexcept {
    if (n == 0) return;
    std::size_t i = 0;
    const long r = advise_ranges(ranges, n, MADV_DONTNEED);
    if (r > 0) i = static_cast<std::size_t>(r) / ranges[0].iov_len;  // ranges are done in order
    for (; i < n; ++i) ::madvise(ranges[i].iov_base, ranges[i].iov_len, MADV_DONTNEED);
}

/// MADV_GUARD_INSTALL on the guard page of each of the `n` stacks of a
/// slab: all in one call where the kernel takes it, else (and for what the
/// call left) one madvise() each. False (nothing installed) if the kernel
/// has no such guards.
bool install_guards(char* base, std::size_t stride, std::size_t n, guard_mode mode) noexcept {
    const std::size_t g = page_size();
    std::size_t i = 0;
    if (mode == guard_mode::guard_install) {
        iovec ranges[max_stacks_per_slab];
        for (std::size_t k = 0; k < n; ++k) ranges[k] = iovec{base + k * stride, g};
        const long r = advise_ranges(ranges, n, MADV_GUARD_INSTALL);
        if (r > 0) i = static_cast<std::size_t>(r) / g;  // ranges are done in order
    }
    while (i < n && ::madvise(base + i * stride, g, MADV_GUARD_INSTALL) == 0) ++i;
    if (i == n) return true;
    if (i == 0) guard_install_works.store(false, std::memory_order_relaxed);  // an older kernel
    for (std::size_t k = 0; k < i; ++k) ::madvise(base + k * stride, g, MADV_GUARD_REMOVE);  // unexpected: undo
    return false;
}

/// Tries guard pages on a fresh slab; false leaves it unguarded (and
/// writable).
bool guard_slab(char* base, std::size_t stride, std::size_t n) noexcept {
    const std::size_t g = page_size();
    const guard_mode mode = configured_guard();
    if ((mode == guard_mode::guard_install || mode == guard_mode::guard_install_each) &&
        guard_install_works.load(std::memory_order_relaxed) && install_guards(base, stride, n, mode))
        return true;
    if (mode == guard_mode::canary) return false;
    // Each guard splits the mapping: a guard and a stack mapping per stack.
    const long cost = static_cast<long>(2 * n + 1);
    if (!take_budget(cost)) return false;
    for (std::size_t i = 0; i < n; ++i) {
        if (::mprotect(base + i * stride, g, PROT_NONE) != 0) {
            for (std::size_t k = 0; k < i; ++k) ::mprotect(base + k * stride, g, PROT_READ | PROT_WRITE);
            mprotect_budget().store(0, std::memory_order_relaxed);  // the system says no more
            return false;
        }
    }
    return true;
}

// Slabs are carved upwards from large reservations of address space: few
// mappings, and a slab costs no mmap() of its own. (One per slab grew the
// mapping below it under the mmap write lock, and page faults in it on other
// threads, say a spawner's while the refiller mapped, waited.)
struct slab_source {
    std::mutex mu;
    char* next = nullptr;
    char* end = nullptr;

    /// `bytes` of address space. When the current reservation is short,
    /// `reserve(bytes)` maps a new one and returns its usable [lo, hi);
    /// `ready(slab, bytes)` runs on the slab before it is handed out.
    template <class Reserve, class Ready>
    char* carve(std::size_t bytes, Reserve reserve, Ready ready) {
        std::lock_guard lk(mu);
        if (static_cast<std::size_t>(end - next) < bytes) std::tie(next, end) = reserve(bytes);
        ready(next, bytes);
        char* slab = next;
        next += bytes;
        return slab;
    }

    /// Takes back a slab if none was carved after it; else its address
    /// space stays unused (an munmap() would split the mapping).
    void uncarve(char* slab, std::size_t bytes) noexcept {
        std::lock_guard lk(mu);
        if (next == slab + bytes) next = slab;
    }
};

char* map_reservation(std::size_t bytes, int prot) {
    void* mem = ::mmap(nullptr, bytes, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) throw std::bad_alloc();
    return static_cast<char*>(mem);
}

// Slabs to be guarded: from writable reservations, each as large as all
// before it (up to 1 GiB, ~15,000 default stacks): a writable mapping counts
// against the commit limit where overcommit is strict, so a small program
// reserves no more than it uses. One that gets no guards goes back
// (untouched, as good as new), not unmapped: no split per slab once the
// guards run out.
constexpr std::size_t guarded_reservation_max = 1ull << 30;
slab_source guarded_slabs;
std::size_t guarded_reserved = 0;  // under guarded_slabs.mu

char* carve_guarded_slab(std::size_t bytes) {
    return guarded_slabs.carve(
        bytes,
        [](std::size_t b) {
            const std::size_t size = std::max(std::min(guarded_reserved, guarded_reservation_max), b);
            char* lo = map_reservation(size, PROT_READ | PROT_WRITE);
            guarded_reserved += size;
            return std::pair{lo, lo + size};
        },
        [](char*, std::size_t) {});
}

// Canary slabs: from inaccessible reservations, made writable slab by slab.
// The first page of each reservation stays inaccessible: an overflow that
// runs through every slab below it still faults there (reported as an
// overflow).
struct arena {
    std::uintptr_t lo, hi;
};
constexpr std::size_t max_arenas = 256;
arena arenas[max_arenas];
std::atomic<std::size_t> arena_count{0};
slab_source canary_slabs;

char* carve_canary_slab(std::size_t bytes) {
    return canary_slabs.carve(
        bytes,
        [](std::size_t b) {
            const std::size_t n = arena_count.load(std::memory_order_relaxed);
            if (n == max_arenas) throw std::bad_alloc();
            const std::size_t size = std::max(canary_arena_bytes, b + page_size());
            char* lo = map_reservation(size, PROT_NONE);
            note_overflow_trap(lo, page_size());
            arenas[n] = arena{reinterpret_cast<std::uintptr_t>(lo), reinterpret_cast<std::uintptr_t>(lo + size)};
            arena_count.store(n + 1, std::memory_order_release);
            canary_stacks_exist.store(true, std::memory_order_release);
            return std::pair{lo + page_size(), lo + size};
        },
        [](char* slab, std::size_t b) {
            // Made writable in order: it merges with the part below into one mapping.
            if (::mprotect(slab, b, PROT_READ | PROT_WRITE) != 0) throw std::bad_alloc();
        });
}

std::size_t stacks_per_slab(std::size_t stride) noexcept {
    return std::clamp<std::size_t>(slab_bytes_target / stride, 1, max_stacks_per_slab);
}

/// Free stacks linked first..last, `n` of them.
struct stack_chain {
    free_stack* first = nullptr;
    free_stack* last = nullptr;
    std::size_t n = 0;
};

/// Maps (and guards) a slab of stacks of `size`, all free, linked through
/// their tops: the first touch of each stack's top page happens here.
stack_chain make_slab(std::size_t size) {
    const std::size_t stride = size + page_size();
    const std::size_t n = stacks_per_slab(stride);
    char* base = nullptr;
    bool guarded = false;
    if (configured_guard() != guard_mode::canary) {
        base = carve_guarded_slab(stride * n);
        guarded = guard_slab(base, stride, n);
        if (!guarded) guarded_slabs.uncarve(base, stride * n);
    }
    if (!guarded) base = carve_canary_slab(stride * n);
    note_stack_slab(base, stride, n);
#if defined(__SANITIZE_ADDRESS__)
    // Goroutine stacks hold pointers too: LeakSanitizer must scan them (not
    // their guard pages), or what only a parked goroutine refers to looks
    // leaked.
    for (std::size_t i = 0; i < n; ++i) __lsan_register_root_region(base + i * stride + page_size(), size);
#endif
    // The first stack, then the others from the top down: taken in that
    // order, each new stack lies above the free ones, not above one in use
    // (an overflow past a canary tramples free stacks first).
    auto node = [&](std::size_t i) { return node_of(base + i * stride + page_size() + size); };
    free_stack* last = node(0);
    for (std::size_t i = n - 1; i >= 1; --i) last = last->next = node(i);
    last->next = nullptr;
    return stack_chain{node(0), last, n};
}

/// Takes the first stack of `ch` and frees the rest into `c`, under one lock.
free_stack* take_first(size_class& c, const stack_chain& ch) noexcept {
    if (ch.n > 1) {
        std::lock_guard lk(c.mu);
        c.add_dirty(ch.first->next, ch.last, ch.n - 1);
    }
    return ch.first;
}

// ---- returning memory ---------------------------------------------------

/// Returns the pages of all but the `keep` most recently freed dirty stacks
/// of `c` to the system; they become clean stacks.
void release_dirty(size_class& c, std::size_t keep) noexcept {
    free_stack* batch = nullptr;
    std::size_t n = 0;
    {
        std::lock_guard lk(c.mu);
        if (c.dirty_count <= keep) return;
        free_stack** link = &c.dirty;
        for (std::size_t i = 0; i < keep; ++i) link = &(*link)->next;
        batch = *link;
        *link = nullptr;
        n = c.dirty_count - keep;
        c.dirty_count = keep;
    }
    // Room for them all among the clean ones, allocated without the lock.
    void** room = nullptr;
    std::size_t capacity = 0;
    for (;;) {
        {
            std::lock_guard lk(c.mu);
            if (c.clean_capacity - c.clean_count >= n) break;
            capacity = std::max(2 * c.clean_capacity, c.clean_count + n);
        }
        std::free(room);
        room = static_cast<void**>(std::malloc(capacity * sizeof(void*)));
        if (!room) break;
        std::lock_guard lk(c.mu);
        if (c.clean_capacity >= capacity) continue;  // someone grew it meanwhile
        if (c.clean_count) std::memcpy(room, c.clean, c.clean_count * sizeof(void*));
        std::swap(room, c.clean);
        c.clean_capacity = capacity;
    }
    std::free(room);  // the old array, or an unused new one
    const std::size_t size = c.size;
    while (batch) {
        // A call's worth, each link read before its page is dropped.
        void* sps[max_stacks_per_slab];
        iovec ranges[max_stacks_per_slab];
        std::size_t k = 0;
        for (; batch && k < max_stacks_per_slab; ++k, batch = batch->next) {
            sps[k] = sp_of(batch);
            ranges[k] = iovec{static_cast<char*>(sps[k]) - size, size};
        }
        drop_pages(ranges, k);
        std::lock_guard lk(c.mu);
        for (std::size_t i = 0; i < k; ++i) {
            if (c.clean_count < c.clean_capacity) {
                c.clean[c.clean_count++] = sps[i];
            } else {  // no room after all (out of memory): dirty again, its page comes back
                c.add_dirty(node_of(sps[i]), node_of(sps[i]), 1);
            }
        }
    }
}

/// Default-size stacks this thread freed, for it to reuse first.
struct thread_cache {
    free_stack* head = nullptr;
    std::size_t count = 0;
};
thread_local thread_cache tl_cache;

/// The goroutine record's share of a stack's top: Boost gets the rest.
constexpr std::size_t record_bytes = (sizeof(goroutine) + 63) / 64 * 64;

}  // namespace

std::size_t default_stack_size() noexcept {
    static const std::size_t s = [] {
        std::size_t n = 64 * 1024;
        if (const char* e = std::getenv("CSP_STACK_SIZE")) {
            long v = std::strtol(e, nullptr, 10);
            if (v > 0) n = static_cast<std::size_t>(v);
        }
        return round_to_pages(n);
    }();
    return s;
}

std::atomic<bool> canary_stacks_exist{false};

bool has_canary(const void* stack_bottom) noexcept {
    const auto a = reinterpret_cast<std::uintptr_t>(stack_bottom);
    const std::size_t n = arena_count.load(std::memory_order_acquire);
    for (std::size_t i = 0; i < n; ++i)
        if (a >= arenas[i].lo && a < arenas[i].hi) return true;
    return false;
}

/// A recycled stack may carry AddressSanitizer poison from frames of its last
/// goroutine that never returned (it parked, or its stack was switched away
/// from): the new goroutine starts with a clean slate.
static void unpoison_stack(const boost::context::stack_context& sctx) noexcept {
#if defined(__SANITIZE_ADDRESS__)
    ASAN_UNPOISON_MEMORY_REGION(static_cast<char*>(sctx.sp) - sctx.size, sctx.size);
#else
    (void)sctx;
#endif
}

namespace {

/// An empty thread cache takes up to cache_batch of its class's dirty
/// stacks (the most recently freed, warmest ones), under one lock.
void refill(thread_cache& tc, size_class& c) noexcept {
    std::lock_guard lk(c.mu);
    free_stack* first = c.dirty;
    if (!first) return;
    free_stack* last = first;
    std::size_t n = 1;
    while (n < cache_batch && last->next) {
        last = last->next;
        ++n;
    }
    c.dirty = last->next;
    c.dirty_count -= n;
    last->next = tc.head;
    tc.head = first;
    tc.count += n;
}

/// A full thread cache hands its older half to its class, under one lock
/// (the newer half, warmest, stays); the class returns pages to the system
/// past its own limit, as for any stack freed to it.
void release(thread_cache& tc, size_class& c) noexcept {
    free_stack* keep_last = tc.head;
    for (std::size_t i = 1; i < tc.count - cache_batch; ++i) keep_last = keep_last->next;
    free_stack* first = keep_last->next;
    free_stack* last = first;
    while (last->next) last = last->next;
    keep_last->next = nullptr;
    tc.count -= cache_batch;
    bool too_many;
    {
        std::lock_guard lk(c.mu);
        c.add_dirty(first, last, cache_batch);
        too_many = c.dirty_count > dirty_limit;
    }
    if (too_many) release_dirty(c, dirty_limit / 2);
}

// ---- the reserve ----------------------------------------------------------
//
// A process that keeps needing fresh default-size stacks (its spawners
// mapped reserve_after slabs of them) gets a thread that makes the next
// slabs ready ahead of demand: mapped, guarded, and each stack's top page
// touched (the free-list links written). That kernel work is most of what
// starting a goroutine on a fresh stack costs; the spawner now takes a ready
// slab under one lock, and maps one itself only when the reserve is empty
// (then both make slabs: the work splits). Small programs pay nothing: no
// thread, no ready slab, until growth is seen. csp::free_os_memory() empties
// the reserve; it fills again only once a spawner asks again.
//
// Invariants (under reserve_state::mu):
//  1. ready[0, count) are slabs whose stacks are all free; count <= reserve_slabs.
//  2. The refiller makes slabs only while `wanted` and count < reserve_slabs:
//     `wanted` is set by a spawner that came for a slab, cleared by a drain
//     (and by a slab the refiller could not map: the spawner will find out).
//  3. `waiting`: the refiller is (about to be) asleep on cv, and needs a
//     notify. It falls asleep only when invariant 2 says so, and is woken
//     once `wanted` with count <= reserve_slabs / 2: asleep while wanted,
//     the reserve holds more than half its bound.

constexpr std::size_t reserve_slabs = 4;  // ready stacks: 256, with 1 MiB of touched pages
constexpr std::size_t reserve_after = 4;  // slabs a process maps itself before it gets a refiller

struct reserve_state {
    std::mutex mu;
    std::condition_variable cv;
    stack_chain ready[reserve_slabs];
    std::size_t count = 0;
    bool wanted = false;
    bool waiting = false;
    std::size_t slabs_taken = 0;  // ever, for tests
};

/// Never destroyed: the refiller outlives main.
reserve_state& reserve() {
    static reserve_state* r = new reserve_state();
    return *r;
}

std::atomic<std::size_t> own_slabs{0};           // default-size slabs spawners mapped
std::atomic<bool> refiller_started{false};

/// The refiller's loop: fills the reserve while a spawner wants it.
[[noreturn]] void refill_reserve() {
    internal_thread_started();  // counted out of deadlock checks (it never touches a channel)
    reserve_state& r = reserve();
    const std::size_t size = default_stack_size();
    std::unique_lock lk(r.mu);
    for (;;) {
        while (!r.wanted || r.count == reserve_slabs) {  // invariant 2
            r.waiting = true;
            r.cv.wait(lk);
        }
        r.waiting = false;
        lk.unlock();
        stack_chain ch;
        try {
            ch = make_slab(size);
        } catch (const std::bad_alloc&) {
            lk.lock();
            r.wanted = false;  // the spawner, mapping its own, will throw to its caller
            continue;
        }
        lk.lock();
        r.ready[r.count++] = ch;  // only the refiller adds: still below the bound
    }
}

/// Counts a slab a spawner mapped itself; the reserve_after-th starts the
/// refiller.
void note_own_slab() noexcept {
    if (own_slabs.fetch_add(1, std::memory_order_relaxed) + 1 != reserve_after) return;
    refiller_started.store(true, std::memory_order_relaxed);
    try {
        std::thread(refill_reserve).detach();
    } catch (...) {
        refiller_started.store(false, std::memory_order_relaxed);  // no thread: no reserve
    }
}

/// A stack of a ready slab (the rest freed into `c`), or null: the reserve
/// is empty (or there is none). Asks the refiller for more either way.
free_stack* take_reserved(size_class& c) {
    if (!refiller_started.load(std::memory_order_relaxed)) return nullptr;  // a small program
    reserve_state& r = reserve();
    stack_chain ch;
    bool wake;
    {
        std::lock_guard lk(r.mu);
        r.wanted = true;
        if (r.count) {
            ch = r.ready[--r.count];
            ++r.slabs_taken;
        }
        // Woken once half the reserve is gone, not per slab: a wake-up
        // costs the spawner a few microseconds (an interrupt to another CPU).
        wake = r.waiting && r.count <= reserve_slabs / 2;
        if (wake) r.waiting = false;  // one notify is enough
    }
    if (wake) r.cv.notify_one();
    return ch.first ? take_first(c, ch) : nullptr;
}

/// Moves the reserve's stacks into `c` (dirty, to be released with the
/// rest); the refiller rests until a spawner asks again.
void drain_reserve(size_class& c) noexcept {
    if (!refiller_started.load(std::memory_order_relaxed)) return;
    reserve_state& r = reserve();
    stack_chain taken[reserve_slabs];
    std::size_t n;
    {
        std::lock_guard lk(r.mu);
        r.wanted = false;
        n = r.count;
        std::copy_n(r.ready, n, taken);
        r.count = 0;
    }
    std::lock_guard lk(c.mu);
    for (std::size_t i = 0; i < n; ++i) c.add_dirty(taken[i].first, taken[i].last, taken[i].n);
}

boost::context::stack_context take_pooled(std::size_t size) {
    const std::size_t default_size = default_stack_size();
    const std::size_t sz = size ? class_size(size) : default_size;
    boost::context::stack_context sctx;
    sctx.size = sz;
    thread_cache& tc = tl_cache;
    if (sz == default_size) {
        // Scheduler threads only: they live as long as the process, and
        // free what they run. A plain thread that starts goroutines frees
        // none of their stacks, and would take a batch away with it when
        // it exits.
        if (!tc.head && in_goroutine()) refill(tc, class_for(sz));
        if (free_stack* n = tc.head) {
            tc.head = n->next;
            --tc.count;
            sctx.sp = sp_of(n);
            return sctx;
        }
    }
    size_class& c = class_for(sz);
    {
        std::lock_guard lk(c.mu);
        if (free_stack* n = c.dirty) {
            c.dirty = n->next;
            --c.dirty_count;
            sctx.sp = sp_of(n);
            return sctx;
        }
        if (c.clean_count) {
            sctx.sp = c.clean[--c.clean_count];
            return sctx;
        }
    }
    if (sz == default_size) {
        if (free_stack* n = take_reserved(c)) {
            sctx.sp = sp_of(n);
            return sctx;
        }
    }
    sctx.sp = sp_of(take_first(c, make_slab(sz)));
    if (sz == default_size) note_own_slab();
    return sctx;
}

void give_back_pooled(boost::context::stack_context& sctx) noexcept {
    unpoison_stack(sctx);
    check_stack_canary(static_cast<char*>(sctx.sp) - sctx.size, canary_check::whole);
    free_stack* n = node_of(sctx.sp);
    thread_cache& tc = tl_cache;
    // Only sizes that were allocated before are freed: the class exists.
    if (sctx.size == default_stack_size()) {
        if (tc.count == thread_cache_limit) release(tc, class_for(sctx.size));
        n->next = tc.head;
        tc.head = n;
        ++tc.count;
        return;
    }
    size_class& c = class_of(sctx.size);
    bool too_many;
    {
        std::lock_guard lk(c.mu);
        c.add_dirty(n, n, 1);
        too_many = c.dirty_count > dirty_limit;
    }
    // The most recently freed half stays warm; this stack is among them.
    if (too_many) release_dirty(c, dirty_limit / 2);
}

}  // namespace

stack_reserve_view stack_reserve_now() noexcept {
    stack_reserve_view v;
    v.started = refiller_started.load(std::memory_order_relaxed);
    if (!v.started) return v;
    reserve_state& r = reserve();
    std::lock_guard lk(r.mu);
    v.refiller_asleep = r.waiting;
    v.asked = r.wanted;
    for (std::size_t i = 0; i < r.count; ++i) v.ready_stacks += r.ready[i].n;
    v.bound_stacks = reserve_slabs * stacks_per_slab(default_stack_size() + page_size());
    v.slabs_taken = r.slabs_taken;
    return v;
}

goroutine_stack goroutine_stack::take(std::size_t size) {
    goroutine_stack st;
    st.usable_ = take_pooled(size);
    st.usable_.sp = static_cast<char*>(st.usable_.sp) - record_bytes;
    st.usable_.size -= record_bytes;
    st.record_ = st.usable_.sp;
    return st;
}

void* goroutine_stack::reserve(std::size_t size, std::size_t align) noexcept {
    const auto sp = reinterpret_cast<std::uintptr_t>(usable_.sp);
    const std::uintptr_t at = (sp - size) & ~static_cast<std::uintptr_t>(align - 1);
    const std::size_t taken = sp - at;  // >= size (a wrapped `sp - size` makes it huge)
    if (taken > usable_.size / 2) return nullptr;
    usable_.sp = reinterpret_cast<void*>(at);
    usable_.size -= taken;
    return usable_.sp;
}

void goroutine_stack::give_back() noexcept {
    boost::context::stack_context whole;
    whole.sp = static_cast<char*>(record_) + record_bytes;
    whole.size = usable_.size + static_cast<std::size_t>(static_cast<char*>(whole.sp) - static_cast<char*>(usable_.sp));
    give_back_pooled(whole);
}

}  // namespace csp::detail

namespace csp {

void free_os_memory() noexcept {
    using namespace detail;
    // Pooled goroutines past the pool's resting size end, on scheduler
    // threads: waited for (a second at most: never a hang), so that their
    // stacks are back for the release below. From a goroutine by yielding:
    // they may need this very thread.
    end_idle_surplus(false);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (idle_goroutines_ending() != 0 && std::chrono::steady_clock::now() < give_up) {
        if (in_goroutine()) csp::yield();
        else std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    // This thread's cache first: into the shared lists, to be released too.
    thread_cache& tc = tl_cache;
    if (tc.head) {
        size_class& c = class_of(default_stack_size());
        std::lock_guard lk(c.mu);
        free_stack* last = tc.head;
        while (last->next) last = last->next;
        c.add_dirty(tc.head, last, tc.count);
        tc.head = nullptr;
        tc.count = 0;
    }
    drain_reserve(class_for(default_stack_size()));
    for (size_class& c : classes) {
        if (__atomic_load_n(&c.size, __ATOMIC_ACQUIRE) == 0) break;
        release_dirty(c, 0);
    }
    ::malloc_trim(0);
}

}  // namespace csp
