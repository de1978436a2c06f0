// The goroutine runtime's internal interface: what channels, timers and
// go() need from the scheduler threads. See fiber/proc.cpp for the
// scheduling policy.
#pragma once

#include <cstddef>
#include <exception>

#include <boost/context/stack_context.hpp>
#include <boost/fiber/context.hpp>
#include <boost/fiber/detail/spinlock.hpp>

namespace csp::detail {

/// True on a runtime scheduler thread while a goroutine runs; false on plain
/// threads (they block their thread instead of parking a fiber).
bool in_goroutine() noexcept;

/// Makes a parked or new goroutine runnable. Callable from anywhere: from a
/// goroutine it becomes the next to run on this thread (Go's runnext), from
/// elsewhere it goes to the global queue and an idle scheduler is woken.
void make_ready(boost::fibers::context* ctx) noexcept;

/// The running goroutine and the scheduler thread it runs on; both null on
/// a plain thread.
struct goroutine_ref {
    boost::fibers::context* ctx = nullptr;
    const void* proc = nullptr;
};
goroutine_ref current_goroutine() noexcept;

/// True if the caller runs on scheduler thread `proc`.
bool on_proc(const void* proc) noexcept;

/// Parks the running goroutine `self`; `lk` is released by the next fiber
/// right after the switch. Returns when some make_ready() resumed it.
void park_current(boost::fibers::context* self, boost::fibers::detail::spinlock_lock& lk) noexcept;

/// Number of scheduler threads (starts the runtime).
std::size_t procs();

/// Bookkeeping of a goroutine's body: reports an escaped exception like a Go
/// panic, then lets the scheduler know it is about to terminate.
void goroutine_panicked(std::exception_ptr e) noexcept;
void goroutine_started() noexcept;
void goroutine_finished() noexcept;

/// A goroutine's stack, from the pool (stack_pool.cpp: address space
/// reserved with a guard page below, pages touched only when used, recycled
/// through per-thread caches). The goroutine's record lives in the stack's
/// top bytes, above what Boost gets: no allocation per goroutine, and the
/// record shares the page the goroutine touches first.
class goroutine_stack {
public:
    /// Takes a stack of `size` bytes (0: the default size) from the pool.
    static goroutine_stack take(std::size_t size);
    /// Where the goroutine's record goes (constructed there by spawn).
    void* record_space() const noexcept { return sctx_.sp; }
    /// The part Boost may use, [sp - size, sp).
    const boost::context::stack_context& usable() const noexcept { return sctx_; }

    // Boost's StackAllocator: hands out the stack taken already, and returns
    // it to the pool, record space included, once the fiber is gone.
    boost::context::stack_context allocate() const noexcept { return sctx_; }
    void deallocate(boost::context::stack_context& sctx) noexcept;

private:
    boost::context::stack_context sctx_;
};

std::size_t default_stack_size() noexcept;

/// Plain threads blocked, with no deadline, in a wait only goroutines can
/// end (for deadlock detection). Whoever wakes such a thread subtracts it.
void blocked_threads_add(long delta) noexcept;
/// A plain thread made a goroutine runnable (for deadlock detection).
void note_outside_activity() noexcept;
/// A plain thread about to block for good: if every scheduler thread sleeps
/// already, nobody else would look for a deadlock.
void check_deadlock_if_idle() noexcept;

}  // namespace csp::detail
