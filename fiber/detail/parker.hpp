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
//     for the same reason; a lock of its own lets select drop them early).
//     A waker on the goroutine's own scheduler thread skips that: something
//     else runs there, so the goroutine has switched away already.
//  5. Only the claimer wakes: a goroutine parked with a deadline is woken by
//     its timer only if the timer won the CAS (state == aborted).
//  6. `sole_claimer`: the parker's one waiter sits in one queue, and nothing
//     else (no timer, no other case) can claim it, so whoever claims it holds
//     that queue's lock and has just unlinked the waiter: nobody races, and
//     the claim is a plain store (Go's non-select sudog needs no selectDone
//     CAS either). Set by the owner before it queues the waiter.
#pragma once

#include <atomic>
#include <chrono>

#include <fiber/detail/spin_mutex.hpp>

namespace csp::detail {

class goroutine;          // fiber/internal/goroutine.hpp
struct thread_blocker;    // fiber/internal/sched.hpp

/// What a blocked goroutine waits for, as a goroutine dump names it.
enum class wait_reason : unsigned char {
    none,
    chan_send,
    chan_receive,
    select,
    select_no_cases,
    chan_send_nil,
    chan_receive_nil,
    sleep,
    wait_group,
    mutex,
    blocking,  // csp::blocking: f runs on a pool thread
};

struct parker {
    static constexpr int waiting = 0;
    static constexpr int aborted = -1;

    /// Makes a parker for the calling goroutine or thread.
    parker() noexcept;

    bool try_claim(int value) noexcept {
        // Invariant 6: the one claimer there can be, holding the one queue's
        // lock; a plain store (one locked instruction fewer per hand-off).
        if (sole_claimer) {
            state.store(value, std::memory_order_release);
            return true;
        }
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
        if (g) {
            lock_for_park();
            unlock_queues();
            park_fiber();
        } else {
            unlock_queues();
            park_thread(nullptr);
        }
    }

    /// Like park, but gives up at `deadline`: returns false if it was aborted
    /// by the deadline (state == aborted), true if claimed by a partner.
    template <class Unlock>
    bool park_until(std::chrono::steady_clock::time_point deadline, Unlock&& unlock_queues) {
        if (g) {
            lock_for_park();
            unlock_queues();
            return arm_timer_and_park(deadline);
        }
        unlock_queues();
        park_thread(&deadline);
        return claimed() != aborted;
    }

    std::atomic<int> state{waiting};
    goroutine* g = nullptr;                   // the goroutine, or null for a plain thread
    const void* home = nullptr;               // the scheduler thread it parks on
    thread_blocker* blocker = nullptr;        // the plain thread's blocker
    parker* next_to_wake = nullptr;           // link in a wake_list
    const void* object = nullptr;             // what it waits on (a channel, a wait_group)
    wait_reason reason = wait_reason::none;   // ...and for what, as a goroutine dump says
    spin_mutex park_lock;                     // invariant 4
    bool sole_claimer = false;                // invariant 6

private:
    // Nobody else can hold or take park_lock yet: a claimer needs a queue
    // lock the caller still holds, whose release publishes this store. So
    // this never waits, and needs no atomic exchange.
    void lock_for_park() noexcept {
        if (!park_lock.lock_unshared()) claimed_before_parking();  // broken invariant 4: never silently
    }
    [[noreturn]] static void claimed_before_parking() noexcept;
    /// Switches away; park_lock is released by whatever runs next on this
    /// thread, right after the switch. Returns once woken.
    void park_fiber() noexcept;
    bool arm_timer_and_park(std::chrono::steady_clock::time_point deadline) noexcept;
    void park_thread(const std::chrono::steady_clock::time_point* deadline);
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
