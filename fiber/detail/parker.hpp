// parker: one blocked goroutine or thread, and the claim that decides who
// wakes it (Go's g + selectDone, crossbeam's Context).
//
// Invariants
//  1. A blocking operation (a send, a receive, a whole select, a sleep, a
//     wait_group wait) owns exactly one parker, on its own stack, for as long
//     as it is blocked. Wait queues hold `waiter`s that point at it.
//  2. `state` goes 0 -> k exactly once, by compare-and-swap: k > 0 means
//     "case k-1 completed, the claimer did the transfer", k == aborted means a
//     timer or a cancellation got there first. Whoever wins the CAS, and only
//     they, wakes the parker; everybody else treats their waiter as stale.
//  3. The claimer finishes writing what the waiter will read (the value, the
//     success flag) before it calls wake(), and touches nothing of the parker
//     after wake() returns: the waiter may already be gone.
//  4. A goroutine publishes its waiters, then takes `park_lock`, then drops
//     the queue locks, then switches away; the lock is released by the next
//     fiber right after the switch. wake() takes and drops park_lock before it
//     makes the goroutine runnable, so a goroutine is never resumed while it is
//     still running on its old stack (Go parks with the channel locks held
//     for the same reason; a per-parker lock lets select drop them early).
//     A waker on the goroutine's own scheduler thread skips that: something
//     else runs there, so the goroutine has switched away already.
//  5. Only the claimer wakes: a goroutine parked with a deadline is woken by
//     its timer only if the timer won the CAS (state == aborted).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include <boost/fiber/context.hpp>
#include <boost/fiber/detail/spinlock.hpp>

#include <fiber/detail/goroutine.hpp>

namespace csp::detail {

class proc;

/// What a plain thread (not a runtime scheduler thread) blocks on. One per
/// thread, reused by every blocking operation of that thread.
struct thread_blocker {
    std::mutex mu;
    std::condition_variable cv;
    bool woken = false;
    bool counted = false;  // counted as blocked for deadlock detection (under mu)
};

struct parker {
    static constexpr int waiting = 0;
    static constexpr int aborted = -1;

    /// Makes a parker for the calling goroutine or thread.
    parker() noexcept;

    bool try_claim(int value) noexcept {
        int expected = waiting;
        return state.compare_exchange_strong(expected, value, std::memory_order_acq_rel,
                                             std::memory_order_acquire);
    }
    int claimed() const noexcept { return state.load(std::memory_order_acquire); }

    /// Wakes the owner; only the winner of try_claim calls this, without any
    /// queue lock held.
    void wake() noexcept;

    /// Blocks until claimed and woken. The caller holds the locks of the
    /// queues it published waiters in; `unlock_queues` drops them once the
    /// parker is safe to wake.
    template <class Unlock>
    void park(Unlock&& unlock_queues) {
        if (ctx) {
            boost::fibers::detail::spinlock_lock lk = lock_for_park();
            unlock_queues();
            park_fiber(lk);
        } else {
            unlock_queues();
            park_thread(nullptr);
        }
    }

    /// Like park, but gives up at `deadline`: returns false if it was aborted
    /// by the deadline (state == aborted), true if claimed by a partner.
    template <class Unlock>
    bool park_until(std::chrono::steady_clock::time_point deadline, Unlock&& unlock_queues) {
        if (ctx) {
            boost::fibers::detail::spinlock_lock lk = lock_for_park();
            unlock_queues();
            return arm_timer_and_park(deadline, lk);
        }
        unlock_queues();
        park_thread(&deadline);
        return claimed() != aborted;
    }

    std::atomic<int> state{waiting};
    boost::fibers::context* ctx = nullptr;    // the goroutine, or null for a plain thread
    const void* home = nullptr;               // the scheduler thread it parks on
    thread_blocker* blocker = nullptr;        // the plain thread's blocker
    boost::fibers::detail::spinlock park_lock;
    parker* next_to_wake = nullptr;           // link in a wake_list
    wait_reason reason = wait_reason::none;   // what a goroutine dump says it waits for
    const void* object = nullptr;             // ...and on what (a channel, a wait_group)

private:
    // Nobody else can hold park_lock yet: a claimer needs a queue lock the
    // caller still holds. So this never waits.
    boost::fibers::detail::spinlock_lock lock_for_park() noexcept {
        boost::fibers::detail::spinlock_lock lk(park_lock, std::try_to_lock);
        if (!lk.owns_lock()) claimed_before_parking();  // broken invariant 4: never silently
        return lk;
    }
    [[noreturn]] static void claimed_before_parking() noexcept;
    void park_fiber(boost::fibers::detail::spinlock_lock& lk) noexcept;
    void park_thread(const std::chrono::steady_clock::time_point* deadline);
    bool arm_timer_and_park(std::chrono::steady_clock::time_point deadline,
                            boost::fibers::detail::spinlock_lock& lk) noexcept;
};

/// Parkers claimed under a queue lock, woken after it is dropped (Go's rule:
/// never wake while holding a channel's lock).
class wake_list {
public:
    void push(parker* p) noexcept {
        p->next_to_wake = head_;
        head_ = p;
    }
    void wake_all() noexcept {
        while (head_) {
            parker* p = head_;
            head_ = p->next_to_wake;  // read before wake(): p may vanish after it
            p->wake();
        }
    }
    ~wake_list() { wake_all(); }

private:
    parker* head_ = nullptr;
};

}  // namespace csp::detail
