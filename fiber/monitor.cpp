// monitor: the runtime's watcher thread (Go's sysmon). Scheduling here is
// cooperative: a goroutine in a CPU loop or a blocking system call holds its
// scheduler thread until it returns. The monitor makes sure that such a
// goroutine strands nobody else:
//
//  - A stuck proc: a scheduler thread whose pick count has not moved since
//    the previous poll, and that is not looking for work (suspend_until).
//    The count is a relaxed store the proc makes at every pick anyway, so
//    watching costs the hot paths nothing.
//  - Goroutines waiting on a proc stuck for `stranded_after` (its runnext or
//    local queue): a sleeping thread is woken to steal them; once the proc has been stuck
//    for `stuck_threshold` they move to the global queue (proc::surrender;
//    Go hands a P off after 20 us in a system call, preempts after 10 ms).
//  - If work waits and every scheduler thread is stuck that long, a stand-in
//    thread starts (Go's handoffp onto a fresh M): a scheduler thread like the
//    others, at most runtime::max_standins of them. It retires (hands back
//    what it holds, sleeps, stops counting as idle) once the proc it covers
//    picks again, and is woken to cover again later.
//  - Timers overdue by `timer_slack` are fired here: every scheduler thread
//    may be busy, and a sleeper must still wake on time.
//  - Every `trim_window`, pooled goroutines that a burst left and nobody
//    reused meanwhile end (goroutine_pool.cpp, invariant 4): their stacks go
//    back to the stack pool, and past its limit to the system.
//
// The poll starts at 20 us and doubles after 50 polls with nothing to do, up
// to 1 ms (Go: 10 ms; ours also rescues a stranded runnext, which Go's wakep
// does at once, so it stays tighter).
//
// Invariants:
//  1. Only the monitor starts, retires and reactivates stand-ins, so their
//     records need no lock but for standin_report's reads (standin_mu_).
//  2. A retired stand-in takes no work: unpark() ignores it, it does not
//     count as idle, and it surrenders what it holds at its next pick.
//  3. Deadlock detection counts the monitor as a thread that never touches
//     goroutines. While it does (firing timers, moving goroutines) it is
//     not counted (handling), and it bumps the outside-activity count when
//     done, so no check sees goroutines in its hands as lost. Having acted,
//     it looks for a deadlock itself if every scheduler thread sleeps for
//     good (the check their last park made may have been spoiled by it).
#include <fiber/internal/exit.hpp>
#include <fiber/internal/goroutine_pool.hpp>
#include <fiber/internal/runtime.hpp>
#include <fiber/internal/sched.hpp>

#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

namespace csp::detail {

namespace {
using namespace std::chrono_literals;

/// Invariant 3: the monitor holds goroutines while this lives.
struct handling {
    handling() { internal_threads_add(-1); }
    ~handling() {
        internal_threads_add(1);
        note_outside_activity();
    }
};

constexpr clock::duration poll_min = 20us;
constexpr clock::duration poll_max = 1ms;
constexpr int quiet_polls_before_backoff = 50;
constexpr clock::duration stuck_threshold = 10ms;
constexpr clock::duration timer_slack = 1ms;
// Long enough that a program whose bursts come a few times a second keeps
// its pooled goroutines between them; short enough that one burst's
// leftovers (the pool's bound: 65,536) are gone within a few windows.
constexpr clock::duration trim_window = 50ms;
// A proc that has not picked for this long while its runnext or queue waits
// gets a sleeping thread woken to take them. Not at once: the waker's own
// wakep and the spinning threads see to the usual case, and a monitor that
// acts on every hand-off in flight polls at its fastest for good (a
// nanosleep of 20 us at a time: a tenth of a busy queue client's CPU).
constexpr clock::duration stranded_after = 100us;
// Work in the global queue (or a local one) with a thread asleep and none
// looking for this long: a wake-up was lost. (For a moment it is normal:
// the woken thread is on its way.)
constexpr clock::duration lost_wake_after = 1ms;
}  // namespace

void runtime::monitor_main() noexcept {
    struct watch {
        std::uint32_t picks = 0;
        clock::time_point since{};  // when `picks` was last seen to change (or the proc to look)
    };
    std::vector<watch> seen(procs_.size());
    clock::duration delay = poll_min;
    int quiet = 0;
    clock::time_point work_waits_since{};  // since when the last polls saw a lost wake-up's signs
    clock::time_point last_trim = clock::now();
    for (;;) {
        std::this_thread::sleep_for(delay);
        // The program is exiting (fiber/exit.cpp): no timer fires, no stand-in
        // starts, nothing runs into objects being destroyed. The thread stays
        // (asleep): deadlock detection counts it among the process's threads.
        while (exit_stopping.load(std::memory_order_acquire)) std::this_thread::sleep_for(std::chrono::hours(1));
        const clock::time_point now = clock::now();
        bool acted = false;

        // Timers nobody fired: every thread is busy, or sleeps past them.
        // (Compared as next < now - slack: next is "never", the largest
        // time_point, when the heap empties meanwhile; adding would overflow.)
        if (!timers.empty() && timers.next_deadline() < now - timer_slack) {
            handling h;
            acted |= fire_timers(now) > 0;
        }

        // What the last burst left in the goroutine pool and nobody reused.
        if (now - last_trim >= trim_window) {
            last_trim = now;
            if (has_idle_surplus()) {
                handling h;  // it makes the goroutines ready: invariant 3
                acted |= end_idle_surplus(true) > 0;
            }
        }

        // Who moves, who is stuck.
        const std::size_t n = size();
        bool someone_looks = false;
        bool all_stuck_long = true;
        for (std::size_t i = 0; i < n; ++i) {
            proc& p = at(i);
            const std::uint32_t picks = p.picks();
            const bool looking = p.looking();
            const bool moved = looking || picks != seen[i].picks;
            if (moved) seen[i] = {picks, now};
            if (p.retired()) continue;  // takes no work: neither a helper nor one to help
            if (moved) {
                someone_looks |= looking;
                all_stuck_long = false;
            } else if (now - seen[i].since < stuck_threshold) {
                all_stuck_long = false;
            }
        }

        // Goroutines waiting on a stuck proc go where a thread can take them.
        for (std::size_t i = 0; i < n; ++i) {
            proc& p = at(i);
            if (p.looking() || p.picks() != seen[i].picks || now == seen[i].since) continue;
            if (!p.has_runnext() && !p.has_stealable()) continue;
            // A stand-in retired while stuck (its goroutine blocked in read(),
            // say) would otherwise hold what it had queued until it returns.
            if (p.retired() || now - seen[i].since >= stuck_threshold) {
                handling h;
                acted |= p.surrender() > 0;
            } else if (now - seen[i].since >= stranded_after && someone_looks &&
                       idle.load(std::memory_order_acquire) > 0 && spinning.load(std::memory_order_acquire) == 0) {
                // A sleeping thread can take them (it steals the queue, and
                // runnext after the grace): cheaper than moving them all
                // through the global queue (which slowed spawn_join down).
                wakep();
                acted = true;
            }
        }

        // A wake-up lost somewhere: work waits in the global queue, or in a
        // local queue whose owner keeps picking (its push may have missed a
        // thread going to sleep: wakep_for_local takes no fence), while a
        // thread sleeps and none looks.
        if (has_queued_work() && idle.load(std::memory_order_acquire) > 0 &&
            spinning.load(std::memory_order_acquire) == 0) {
            if (work_waits_since == clock::time_point{}) {
                work_waits_since = now;
            } else if (now - work_waits_since >= lost_wake_after) {
                work_waits_since = {};
                waking.store(false, std::memory_order_release);
                wakep();
                acted = true;
            }
        } else {
            work_waits_since = {};
        }

        // Retire the stand-ins whose stuck proc moves again.
        for (std::size_t s = 0; s < standin_count_; ++s) {
            standin& st = standins_[s];
            // (A stand-in covering a stand-in that retired retires too.)
            if (!st.active || (seen[st.covers].since != now && !at(st.covers).retired())) continue;
            {
                std::lock_guard lk(standin_mu_);
                st.active = false;
            }
            at(st.proc).retire();
            acted = true;
        }

        // Work waits and no thread will get to it: a stand-in covers for the
        // first stuck proc that has none.
        if (all_stuck_long && has_injected()) {
            std::size_t stuck = n;
            for (std::size_t i = 0; i < n && stuck == n; ++i) {
                if (at(i).retired()) continue;
                bool covered = false;
                for (std::size_t s = 0; s < standin_count_; ++s)
                    covered |= standins_[s].active && standins_[s].covers == i;
                if (!covered) stuck = i;
            }
            standin* st = nullptr;
            for (std::size_t s = 0; s < standin_count_ && !st; ++s)
                if (!standins_[s].active) st = &standins_[s];
            if (stuck != n) {
                if (st) {  // a retired one covers again
                    {
                        std::lock_guard lk(standin_mu_);
                        st->covers = stuck;
                        st->active = true;
                    }
                    at(st->proc).reactivate();
                    seen[st->proc] = {at(st->proc).picks(), now};
                    acted = true;
                } else if (standin_count_ < max_standins) {
                    const std::size_t index = configured_ + standin_count_;
                    {
                        std::lock_guard lk(standin_mu_);
                        standins_[standin_count_] = {index, stuck, true};
                        ++standin_count_;
                    }
                    start_thread(index);
                    while (registered_.load(std::memory_order_acquire) != index + 1) std::this_thread::yield();
                    seen[index] = {0, now};
                    size_.store(index + 1, std::memory_order_release);
                    wakep();
                    acted = true;
                }
            }
        }

        if (acted && idle_forever.load(std::memory_order_acquire) == size()) check_deadlock();  // invariant 3
        if (acted) {
            delay = poll_min;
            quiet = 0;
        } else if (++quiet > quiet_polls_before_backoff && delay < poll_max) {
            delay = std::min<clock::duration>(delay * 2, poll_max);
        }
    }
}

std::string runtime::standin_report() {
    std::string out;
    std::lock_guard lk(standin_mu_);
    for (std::size_t s = 0; s < standin_count_; ++s) {
        const standin& st = standins_[s];
        char line[160];
        if (st.active)
            std::snprintf(line, sizeof line,
                          "scheduler thread %zu: stand-in for thread %zu (stuck in one goroutine)\n", st.proc,
                          st.covers);
        else
            std::snprintf(line, sizeof line, "scheduler thread %zu: stand-in, retired\n", st.proc);
        out += line;
    }
    return out;
}

}  // namespace csp::detail
