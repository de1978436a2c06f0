// The scheduler threads' interface for the rest of the library: what
// parkers, timers and go() need from them. Private to the .cpp files. See
// fiber/proc.cpp for the scheduling policy.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>

#include <boost/context/stack_context.hpp>
#include <boost/fiber/context.hpp>

namespace csp::detail {

class goroutine;
class spin_mutex;

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
    goroutine* g = nullptr;
    const void* proc = nullptr;
};
goroutine_ref current_goroutine() noexcept;

/// True if the caller runs on scheduler thread `proc`.
bool on_proc(const void* proc) noexcept;

/// Parks the running goroutine `self`, whose lock `lk` is held; whatever
/// runs next on this thread releases it right after the switch (proc::landed).
/// Returns when some make_ready() resumed it.
void park_current(boost::fibers::context* self, spin_mutex& lk) noexcept;

/// Number of scheduler threads (starts the runtime).
std::size_t procs();

/// Bookkeeping around a goroutine's body (goroutine_panicked, for an
/// exception that escaped it, is in go.hpp): the first thing it does, and
/// the last. goroutine_finished returns true once the fiber, kept in the
/// pool, was resumed with a new body to run; false: it terminates.
void goroutine_started() noexcept;
bool goroutine_finished(goroutine* g) noexcept;

/// What a plain thread (not a runtime scheduler thread) blocks on. One per
/// thread, reused by every blocking operation of that thread.
struct thread_blocker {
    std::mutex mu;
    std::condition_variable cv;
    bool woken = false;
    bool counted = false;  // counted as blocked for deadlock detection (under mu)
};

/// A goroutine's stack, from the pool (stack_pool.cpp: address space
/// reserved with a guard page below, pages touched only when used, recycled
/// through per-thread caches). The goroutine's record and its body (the
/// function and arguments go() was given) live in the stack's top bytes,
/// above what Boost gets: no allocation per goroutine, and they share the
/// page the goroutine touches first.
class goroutine_stack {
public:
    /// Takes a stack of `size` bytes (0: the default size) from the pool.
    static goroutine_stack take(std::size_t size);
    /// Where the goroutine's record goes (constructed there by spawn).
    void* record_space() const noexcept { return record_; }
    /// Takes `size` bytes aligned to `align` off the top of the usable part,
    /// for the goroutine's body; null if that would leave less than half.
    void* reserve(std::size_t size, std::size_t align) noexcept;
    /// The part Boost may use, [sp - size, sp).
    const boost::context::stack_context& usable() const noexcept { return usable_; }

    // Boost's StackAllocator: hands out the usable part, and returns the
    // whole stack to the pool once the fiber is gone.
    boost::context::stack_context allocate() const noexcept { return usable_; }
    void deallocate(boost::context::stack_context&) noexcept { give_back(); }
    /// Returns the whole stack to the pool (spawn failed before Boost had it).
    void give_back() noexcept;

private:
    boost::context::stack_context usable_;
    void* record_ = nullptr;  // the stack's top bytes start here
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
