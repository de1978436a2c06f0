// proc: one scheduler thread's Boost.Fiber algorithm (Go's P).
//
// Policy, after Go's runtime/proc.go:
//  - A goroutine made ready by a goroutine runs next on the waker's thread
//    (runnext); the one it displaces goes to the tail of the local queue.
//  - The local queue is a ring of pointers (run_queue.hpp): a thief copies
//    pointers out under the victim's lock and touches no goroutine there.
//  - Other threads steal half of a local queue (64 at most), only when they
//    have nothing; and runnext too, after a short grace (about 3 us) in
//    which the owner did not pick: a goroutine that keeps running must not
//    strand the one it woke (Go's runqgrab with stealRunNextG).
//  - Idle threads spin briefly before they park; whoever adds stealable work
//    wakes a parked thread only if no thread is spinning.
//  - Boost's scheduler fiber (its "dispatcher context") is kept aside, not in the queue: it runs when
//    another thread handed this one a fiber through Boost (notify), when
//    terminated fibers wait to be freed, periodically, and when idle.
//  - No goroutine's fiber is in a scheduler's worker list (Boost's
//    worker_queue_, which only its own thread may change, and which we never
//    read): a thread that picks a fiber last run elsewhere attaches it
//    (Boost's scheduler pointer, which terminate and yield use) and unlinks
//    it from its own list at once, so any thread may run it next; a fiber
//    that runs on the thread it last ran on costs nothing (a parking fiber
//    used to detach and attach at every switch: ~56 of ~880 instructions in
//    a pingpong round trip).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include <boost/fiber/algo/algorithm.hpp>
#include <boost/fiber/context.hpp>
#include <boost/fiber/scheduler.hpp>

#include <fiber/detail/spin_mutex.hpp>
#include <fiber/internal/run_queue.hpp>
#include <fiber/internal/sanitizer.hpp>

namespace csp::detail {

class runtime;

class proc final : public boost::fibers::algo::algorithm {
public:
    using queue_t = boost::fibers::scheduler::ready_queue_type;

    proc(runtime& rt, std::size_t index);

    // boost::fibers::algo::algorithm
    void awakened(boost::fibers::context* ctx) noexcept override;
    boost::fibers::context* pick_next() noexcept override;
    bool has_ready_fibers() const noexcept override;
    void suspend_until(std::chrono::steady_clock::time_point const& tp) noexcept override;
    void notify() noexcept override;

    /// A goroutine made ready by code running on this thread.
    void push_runnext(boost::fibers::context* ctx) noexcept;
    /// Detaches the running goroutine and switches away; see park_current.
    /// `lk` (if any) is released by whatever lands on this thread next.
    void park(boost::fibers::context* self, spin_mutex* lk) noexcept;
    void note_terminated() noexcept { ++terminated_; }
    /// First thing a context does on this thread after a switch: lets go of
    /// the lock a parking goroutine switched away with (the parker's
    /// invariant 4) and finishes the sanitizers' switch. Every place a
    /// context lands calls it: proc::park, csp::yield, a new goroutine's
    /// start, and the scheduler fiber's every call into this algorithm.
    void landed() noexcept {
        if (spin_mutex* lk = unlock_on_landing_) {
            unlock_on_landing_ = nullptr;
            lk->unlock();
        }
        if (switching_) {
            switching_ = false;
            sanitizer_finish_switch();
        }
    }
    /// The running goroutine is about to yield: queue it behind the others.
    void note_yield() noexcept { yielding_ = true; }

    /// Moves up to half of this queue into `thief`; returns one to run.
    boost::fibers::context* steal_into(proc& thief) noexcept;
    bool has_stealable() const noexcept { return qlen_.load(std::memory_order_relaxed) != 0; }
    /// Takes runnext's goroutine if this proc has not picked for a grace
    /// period while it waited there; null otherwise.
    boost::fibers::context* steal_runnext() noexcept;
    /// This proc's goroutine waiting in runnext, if any (a hint, for thieves).
    bool has_runnext() const noexcept { return runnext_.load(std::memory_order_relaxed) != nullptr; }
    /// Picks so far: unchanged while one goroutine keeps this thread busy
    /// (for thieves and the monitor; a plain relaxed store by the owner).
    std::uint32_t picks() const noexcept { return picks_.load(std::memory_order_relaxed); }

    /// Wakes this thread if it is parked; returns whether it was.
    bool unpark() noexcept;

    // For the monitor (monitor.cpp).
    /// Hands this proc's queue and runnext to the global queue (the owner
    /// is stuck in one goroutine); returns how many goroutines moved.
    std::size_t surrender() noexcept;
    /// True while the thread looks for work or sleeps (suspend_until).
    bool looking() const noexcept { return looking_.load(std::memory_order_relaxed); }
    /// A stand-in thread stops taking work (hands back what it holds at its
    /// next pick) and sleeps, or starts again.
    void retire() noexcept;
    void reactivate() noexcept;
    bool retired() const noexcept { return retired_.load(std::memory_order_acquire); }
    /// True if this thread sleeps with no deadline and nothing to do.
    bool asleep_for_good() noexcept;

#if defined(CSP_TSAN_FIBERS)
    /// ThreadSanitizer's view of goroutine deaths; see tsan_retire.
    bool on_sched_fiber() const noexcept { return running_ && running_ == sched_fiber_ctx_; }
    void tsan_borrow(void* dying) noexcept;
    void tsan_return() noexcept;
#endif

    /// The context this thread runs now (what Boost's context::active()
    /// returns, without its thread-local look-ups): every switch on a
    /// scheduler thread goes through pick_next.
    boost::fibers::context* running() const noexcept { return running_; }

    std::size_t index() const noexcept { return index_; }
    /// Set while this thread fires timers (runtime::fire_timers): whoever
    /// they wake is urgent, not this thread's runnext.
    bool firing_timers = false;
    boost::fibers::scheduler* sched() const noexcept { return sched_; }

private:
    void push_local(boost::fibers::context* ctx) noexcept;
    boost::fibers::context* pop_local() noexcept;
    /// runnext's goroutine, unless its chain has run long enough while
    /// others wait in the queue.
    boost::fibers::context* take_runnext() noexcept;
    boost::fibers::context* take_work() noexcept;
    /// Procs whose runnext a spinning thread watches (the first ones).
    static constexpr std::size_t max_watch = 64;
    /// True if another proc's runnext was set and its pick count equal to
    /// `seen` (this caller's previous look); updates `seen`.
    bool stranded_runnext_elsewhere(std::uint32_t* seen) noexcept;
    // Looks for work for up to spin_budget_ before the thread parks; true if
    // it found another proc's runnext stranded (take_work steals it).
    bool spin_for_work() noexcept;
    bool has_work() noexcept;
    void park_thread(std::chrono::steady_clock::time_point deadline) noexcept;
    /// unpark(), retired or not.
    bool wake_thread() noexcept;
    boost::fibers::context* attach(boost::fibers::context* ctx) noexcept;
    /// pick_next's choice; pick_next itself only tells ThreadSanitizer.
    boost::fibers::context* choose_next() noexcept;
    void enqueue_awakened(boost::fibers::context* ctx) noexcept;
    /// The context pick_next hands to Boost to switch to.
    boost::fibers::context* run(boost::fibers::context* ctx) noexcept {
#if defined(CSP_ASAN_FIBERS)
        sanitizer_start_switch(bounds_of(ctx));
        switching_ = true;
#endif
        return running_ = ctx;
    }
    stack_bounds bounds_of(boost::fibers::context* ctx) const noexcept;
    void* tsan_fiber_of(boost::fibers::context* ctx) noexcept;

    runtime& rt_;
    const std::size_t index_;
    boost::fibers::scheduler* sched_;

    // Owner thread only.
    boost::fibers::context* running_ = nullptr;
    boost::fibers::context* const main_ctx_;
    boost::fibers::context* sched_fiber_ctx_ = nullptr;  // Boost's, once seen
    stack_bounds thread_stack_;
    void* tsan_main_ = nullptr;
    void* tsan_sched_fiber_ = nullptr;
    void* tsan_borrowed_ = nullptr;  // a dying goroutine's fiber the scheduler fiber runs as
    bool switching_ = false;
    spin_mutex* unlock_on_landing_ = nullptr;  // held by a goroutine that switched away to park
    boost::fibers::context* sched_fiber_ = nullptr;
    queue_t pinned_;           // main context: never stolen
    // Written by the owner (exchange), taken by thieves too (steal_runnext).
    std::atomic<boost::fibers::context*> runnext_{nullptr};
    // Owner-written only (load + store, no read-modify-write); read by thieves.
    std::atomic<std::uint32_t> picks_{0};
    std::uint32_t runnext_streak_ = 0;
    std::uint32_t terminated_ = 0;
    bool yielding_ = false;
    std::uint64_t rng_;

    // Shared with thieves.
    alignas(64) spin_mutex qmu_;
    std::atomic<std::size_t> qlen_{0};  // queue_.size(), stored under qmu_: a look without the lock
    run_queue<boost::fibers::context> queue_;
    std::atomic<bool> remote_{false};  // Boost queued a fiber for us from another thread
    // How long the next idle spell spins at most (spin_for_work adapts it);
    // this thread's own.
    std::chrono::steady_clock::duration spin_budget_;
    std::atomic<bool> looking_{false};  // in suspend_until: idle, spinning or parked
    std::atomic<bool> retired_{false};  // a stand-in with nothing to cover

    // Parking.
    std::mutex park_mu_;
    std::condition_variable park_cv_;
    bool parked_ = false;
    bool parked_forever_ = false;
    bool unparked_ = false;
};

}  // namespace csp::detail
