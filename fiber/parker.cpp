#include <fiber/detail/parker.hpp>

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include <fiber/detail/spin_mutex.hpp>
#include <fiber/internal/deadlock.hpp>
#include <fiber/internal/goroutine.hpp>
#include <fiber/internal/overflow.hpp>
#include <fiber/internal/sched.hpp>
#include <fiber/internal/timer_node.hpp>

namespace csp::detail {

namespace {
thread_local thread_blocker tl_blocker;

// Out of line: its first use constructs the thread's blocker, whose code
// would otherwise make every goroutine's parker save registers it never uses.
[[gnu::noinline]] thread_blocker* plain_thread_blocker() noexcept { return &tl_blocker; }

// A deadline timer for a parked goroutine: aborts the wait unless a partner
// claimed it first.
struct deadline_timer : timer_node {
    parker* owner;
};

void abort_wait(timer_node* n) noexcept {
    parker* p = static_cast<deadline_timer*>(n)->owner;
    if (p->try_claim(parker::aborted)) p->wake();
}
}  // namespace

parker::parker() noexcept {
    goroutine_ref cur = current_goroutine();
    g = cur.g;
    home = cur.proc;
    if (!g) [[unlikely]]
        blocker = plain_thread_blocker();
}

void parker::wake() noexcept {
    // A goroutine on a stack without a guard page: an overflow so far is
    // seen before it hands anything on. Here, not only where it switches
    // away: what it wakes may run elsewhere first (a plain thread at once,
    // a goroutine stolen from its runnext or moved on by the monitor). The
    // global test is the fast gate (canary stacks exist only past the guard
    // pages' budget); whether this goroutine has one is its own flag.
    if (canary_stacks_exist.load(std::memory_order_relaxed)) [[unlikely]]
        if (goroutine* self = current_goroutine().g) self->check_canary(canary_check::below);
    if (goroutine* gr = g) {
        // Barrier: the owner holds park_lock until it has switched away. On
        // the owner's own thread it has, or we would not be running.
        if (!on_proc(home)) {
            while (!park_lock.try_lock()) spin_pause();
            park_lock.unlock();
        }
        make_ready(gr->context());
        return;
    }
    thread_blocker* b = blocker;
    std::lock_guard lk(b->mu);
    b->woken = true;
    if (b->counted) {
        b->counted = false;
        blocked_threads_add(-1);
    }
    b->cv.notify_one();
}

void parker::claimed_before_parking() noexcept {
    std::fputs("cspfiber internal error: a goroutine was claimed before it parked\n", stderr);
    std::abort();
}

void parker::park_fiber() noexcept {
    goroutine* const self = g;
    self->check_canary(canary_check::below);  // a stack without a guard page: an overflow so far
    self->set_waiting(reason, object);
    park_current(self->context(), park_lock);
    self->set_waiting(wait_reason::none, nullptr);
}

bool parker::arm_timer_and_park(std::chrono::steady_clock::time_point deadline) noexcept {
    if (deadline == std::chrono::steady_clock::time_point::max()) {  // "never": park without a timer
        // Counted before parking: the scheduler cannot go idle, and look for
        // a deadlock, before this goroutine has switched away.
        never_waits_add(1);
        park_fiber();
        never_waits_add(-1);
        return true;
    }
    deadline_timer t;
    t.when = deadline;
    t.fire = abort_wait;
    t.owner = this;
    timer_start(&t);
    park_fiber();
    // Claimed by a partner: make sure the timer is gone, or done firing,
    // before `t` goes out of scope.
    timer_stop(&t);
    return claimed() != aborted;
}

void parker::park_thread(const std::chrono::steady_clock::time_point* deadline) {
    thread_blocker* b = blocker;
    std::unique_lock lk(b->mu);
    // "Never": an untimed wait, counted as blocked like one, and as a never
    // wait, which deadlock detection takes for a pending timer.
    const bool never = deadline && *deadline == std::chrono::steady_clock::time_point::max();
    if (never) {
        deadline = nullptr;
        never_waits_add(1);
    }
    if (deadline) {
        if (!b->cv.wait_until(lk, *deadline, [b] { return b->woken; })) {
            // Timed out: abort, unless a partner claimed us meanwhile; then
            // its wake-up is on the way and the transfer is done or under way.
            if (try_claim(aborted)) return;
            b->cv.wait(lk, [b] { return b->woken; });
        }
    } else {
        // Counted as blocked until the waker says otherwise: the waker, not
        // this thread once it runs again, takes it off the count, so the
        // count never shows a thread that is already free to go.
        if (!b->woken) {
            b->counted = true;
            blocked_threads_add(1);
            // Look for a deadlock once the wait has lasted a little: the
            // check reads /proc/self/status (an open, a read, allocations),
            // too dear for every short wait of a plain thread, and a report
            // loses nothing by coming 10 ms later. Whatever changes meanwhile
            // counts as activity, which the check watches anyway.
            if (!b->cv.wait_for(lk, std::chrono::milliseconds(10), [b] { return b->woken; }))
                check_deadlock_if_idle();
        }
        b->cv.wait(lk, [b] { return b->woken; });
    }
    b->woken = false;
    if (never) never_waits_add(-1);
}

}  // namespace csp::detail
