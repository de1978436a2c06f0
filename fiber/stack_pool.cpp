// Goroutine stacks: carved from large reservations (one mapping for many
// stacks, so a million goroutines stay far below vm.max_map_count), each with
// a guard page below it, recycled through a per-thread cache and a global
// free list. Pages cost memory only once touched.
//
// Free stacks are linked through their own top bytes, so freeing one takes
// no allocation and almost no stack: Boost frees a fiber's stack while
// running on that very stack, and every page it touches there stays
// resident for the next goroutine that gets the stack.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>

#include <fiber/detail/spin_mutex.hpp>
#include <fiber/internal/goroutine.hpp>
#include <fiber/internal/overflow.hpp>
#include <fiber/internal/sched.hpp>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/lsan_interface.h>
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102  // Linux 6.13: guard pages without a mapping each
#endif

namespace csp::detail {

namespace {

constexpr std::size_t stacks_per_slab = 64;
constexpr std::size_t thread_cache_limit = 256;
constexpr std::size_t max_size_classes = 32;

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

/// Free stacks of one size.
struct size_class {
    spin_mutex mu;
    std::size_t size = 0;  // 0: slot unused
    free_stack* head = nullptr;
};

size_class classes[max_size_classes];
std::mutex classes_mu;

size_class& class_of(std::size_t size) {
    for (size_class& c : classes)  // lock-free look-up of an existing class
        if (__atomic_load_n(&c.size, __ATOMIC_ACQUIRE) == size) return c;
    std::lock_guard lk(classes_mu);
    for (size_class& c : classes) {
        if (c.size == size) return c;
        if (c.size == 0) {
            __atomic_store_n(&c.size, size, __ATOMIC_RELEASE);
            return c;
        }
    }
    throw std::bad_alloc();  // more distinct stack sizes than anyone needs
}

void guard(void* base) {
    const std::size_t g = page_size();
    if (::madvise(base, g, MADV_GUARD_INSTALL) == 0) return;
    if (::mprotect(base, g, PROT_NONE) != 0) throw std::bad_alloc();
}

/// Maps a slab of stacks of `size`; returns the sp of one, frees the rest
/// into `c`.
void* new_slab(size_class& c, std::size_t size) {
    const std::size_t stride = size + page_size();
    void* mem = ::mmap(nullptr, stride * stacks_per_slab, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) throw std::bad_alloc();
    char* base = static_cast<char*>(mem);
    for (std::size_t i = 0; i < stacks_per_slab; ++i) guard(base + i * stride);
    note_stack_slab(base, stride, stacks_per_slab);
#if defined(__SANITIZE_ADDRESS__)
    // Goroutine stacks hold pointers too: LeakSanitizer must scan them (not
    // their guard pages), or what only a parked goroutine refers to looks
    // leaked.
    for (std::size_t i = 0; i < stacks_per_slab; ++i) __lsan_register_root_region(base + i * stride + page_size(), size);
#endif
    auto sp = [&](std::size_t i) { return base + i * stride + page_size() + size; };
    std::lock_guard lk(c.mu);
    for (std::size_t i = 1; i < stacks_per_slab; ++i) {
        free_stack* n = node_of(sp(i));
        n->next = c.head;
        c.head = n;
    }
    return sp(0);
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

boost::context::stack_context take_pooled(std::size_t size) {
    const std::size_t default_size = default_stack_size();
    const std::size_t sz = size ? round_to_pages(size) : default_size;
    boost::context::stack_context sctx;
    sctx.size = sz;
    thread_cache& tc = tl_cache;
    if (sz == default_size && tc.head) {
        free_stack* n = tc.head;
        tc.head = n->next;
        --tc.count;
        sctx.sp = sp_of(n);
        return sctx;
    }
    size_class& c = class_of(sz);
    {
        std::lock_guard lk(c.mu);
        if (free_stack* n = c.head) {
            c.head = n->next;
            sctx.sp = sp_of(n);
            return sctx;
        }
    }
    sctx.sp = new_slab(c, sz);
    return sctx;
}

void give_back_pooled(boost::context::stack_context& sctx) noexcept {
    unpoison_stack(sctx);
    free_stack* n = node_of(sctx.sp);
    thread_cache& tc = tl_cache;
    if (sctx.size == default_stack_size() && tc.count < thread_cache_limit) {
        n->next = tc.head;
        tc.head = n;
        ++tc.count;
        return;
    }
    // Only sizes that were allocated before are freed: the class exists.
    size_class& c = class_of(sctx.size);
    std::lock_guard lk(c.mu);
    n->next = c.head;
    c.head = n;
}

}  // namespace

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
