// Goroutine stacks: carved from large reservations (one mapping for many
// stacks, so a million goroutines stay far below vm.max_map_count), each with
// a guard page below it, recycled through a per-thread cache and a global
// free list. Pages cost memory only once touched.
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include <fiber/detail/runtime.hpp>
#include "overflow.hpp"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102  // Linux 6.13: guard pages without a mapping each
#endif

namespace csp::detail {

namespace {

constexpr std::size_t stacks_per_slab = 64;
constexpr std::size_t thread_cache_limit = 128;

std::size_t page_size() noexcept {
    static const std::size_t p = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return p;
}

std::size_t round_to_pages(std::size_t n) noexcept {
    const std::size_t p = page_size();
    return (n + p - 1) / p * p;
}

// Free stacks of one size class. A stack is identified by its base (the
// guard page); sp = base + guard + size.
struct size_class {
    std::mutex mu;
    std::vector<void*> free;
};

struct pool {
    std::mutex mu;
    std::unordered_map<std::size_t, size_class*> classes;

    size_class& of(std::size_t size) {
        std::lock_guard lk(mu);
        auto& c = classes[size];
        if (!c) c = new size_class();
        return *c;
    }
};

pool& the_pool() {
    static pool* p = new pool();  // outlives every thread that frees a stack
    return *p;
}

void guard(void* base) {
    const std::size_t g = page_size();
    if (::madvise(base, g, MADV_GUARD_INSTALL) == 0) return;
    if (::mprotect(base, g, PROT_NONE) != 0) throw std::bad_alloc();
}

// Maps a slab and pushes all but one of its stacks to `out`.
void* new_slab(std::size_t size, std::vector<void*>& out) {
    const std::size_t stride = size + page_size();
    void* mem = ::mmap(nullptr, stride * stacks_per_slab, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) throw std::bad_alloc();
    char* base = static_cast<char*>(mem);
    for (std::size_t i = 0; i < stacks_per_slab; ++i) guard(base + i * stride);
    note_stack_slab(base, stride, stacks_per_slab);
    for (std::size_t i = stacks_per_slab - 1; i > 0; --i) out.push_back(base + i * stride);
    return base;
}

struct thread_cache {
    std::size_t size = 0;
    std::vector<void*> free;
};
thread_local thread_cache tl_cache;

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

boost::context::stack_context pooled_stack::allocate() {
    const std::size_t sz = round_to_pages(size ? size : default_stack_size());
    void* base = nullptr;
    thread_cache& tc = tl_cache;
    if (tc.size == sz && !tc.free.empty()) {
        base = tc.free.back();
        tc.free.pop_back();
    } else {
        size_class& c = the_pool().of(sz);
        std::lock_guard lk(c.mu);
        if (!c.free.empty()) {
            base = c.free.back();
            c.free.pop_back();
        } else {
            base = new_slab(sz, c.free);
        }
    }
    boost::context::stack_context sctx;
    sctx.size = sz;
    sctx.sp = static_cast<char*>(base) + page_size() + sz;
    return sctx;
}

void pooled_stack::deallocate(boost::context::stack_context& sctx) noexcept {
    const std::size_t sz = sctx.size;
    void* base = static_cast<char*>(sctx.sp) - sz - page_size();
    thread_cache& tc = tl_cache;
    if (tc.size == 0) tc.size = sz;
    if (tc.size == sz && tc.free.size() < thread_cache_limit) {
        tc.free.push_back(base);
        return;
    }
    size_class& c = the_pool().of(sz);
    std::lock_guard lk(c.mu);
    c.free.push_back(base);
    // Hand half the thread cache back too, so stacks freed here can be
    // reused by the threads that allocate.
    if (tc.size == sz) {
        while (tc.free.size() > thread_cache_limit / 2) {
            c.free.push_back(tc.free.back());
            tc.free.pop_back();
        }
    }
}

}  // namespace csp::detail
