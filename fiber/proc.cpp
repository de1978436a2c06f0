#include <fiber/internal/proc.hpp>

#include <pthread.h>

#include <algorithm>

#include <boost/context/stack_traits.hpp>
#include <boost/fiber/type.hpp>

#include <fiber/internal/goroutine.hpp>
#include <fiber/internal/goroutine_pool.hpp>

#include <fiber/internal/runtime.hpp>

namespace csp::detail {

namespace {

using boost::fibers::context;

constexpr std::uint32_t housekeeping_every = 64;   // picks between runs of Boost's scheduler fiber
constexpr std::uint32_t terminated_batch = 32;   // terminated fibers that trigger a free
// A chain of goroutines handing over through runnext runs this many picks
// before the queue gets a turn (Go lets it run out a 10 ms time slice).
constexpr std::uint32_t runnext_limit = 32;
constexpr std::uint32_t timer_check_every = 16;  // picks between timer checks
// A local queue longer than this sends its older half to the global queue.
// Go's runq holds 256; ours is longer so that a burst of spawns (a thousand
// at a time in spawn_join) stays where thieves take it in halves by pointer:
// the global queue is taken one at a time under one lock, and at 256 most
// of such a burst went through it (spawn_join/2 ~5% slower, ~15% when
// moving a line between cores is slow).
constexpr std::size_t local_queue_limit = 1024;
constexpr std::size_t steal_max = 64;             // half a queue at most, and at most this (Go: 128)
// How long an idle thread looks for work before it parks: adaptive, per
// thread, between these bounds. Spinning pays when work comes soon (a
// hand-off between threads: far cheaper than a futex wake and the tens of
// microseconds a parked thread takes to run again); it only burns CPU when
// work comes from far away (a plain thread waiting on a socket, a timer), CPU
// that busy threads or a server beside us need: issue 13's queue client spent
// more CPU spinning than working when every spin lasted 400 us (2000 rounds
// of pause: a pause takes 1 ns on some CPUs and 25 on this AMD EPYC).
// The rule: a spin that finds work within `spin_quick` doubles the budget;
// any other (work found later, or none) halves it. Bounded in time, not in
// rounds, so that it means the same on every CPU.
constexpr auto spin_max = std::chrono::microseconds(50);
// At least two looks for a stranded runnext, a look interval apart, and the
// steal's grace.
constexpr auto spin_min = std::chrono::microseconds(5);
constexpr auto spin_quick = std::chrono::microseconds(10);
// How long a thief leaves a busy proc's runnext alone (Go: 3 us): a waker
// about to block hands over to it itself, far cheaper than a steal.
constexpr auto runnext_grace = std::chrono::microseconds(3);
// Time between two looks for a stranded runnext while spinning.
constexpr auto runnext_look_every = std::chrono::microseconds(2);

bool is_pinned(context* ctx) noexcept { return ctx->is_context(boost::fibers::type::pinned_context); }

std::uint64_t next_random(std::uint64_t& s) noexcept {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

}  // namespace

proc::proc(runtime& rt, std::size_t index)
    : rt_(rt),
      index_(index),
      sched_(context::active()->get_scheduler()),
      running_(context::active()),
      main_ctx_(running_),
      rng_(0x9E3779B97F4A7C15ull * (index + 1)),
      spin_budget_(spin_max) {
    register_proc(this);
    tsan_main_ = tsan_fiber_current();
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        void* bottom = nullptr;
        std::size_t size = 0;
        if (pthread_attr_getstack(&attr, &bottom, &size) == 0) thread_stack_ = {bottom, size};
        pthread_attr_destroy(&attr);
    }
}

void* proc::tsan_fiber_of(context* ctx) noexcept {
    if (ctx == main_ctx_) return tsan_main_;
    if (ctx == sched_fiber_ctx_) {
        if (!tsan_sched_fiber_) tsan_sched_fiber_ = tsan_fiber_create();
        return tsan_sched_fiber_;
    }
    if (goroutine* g = goroutine::of(ctx)) return g->tsan_fiber;
    return nullptr;
}

#if defined(CSP_TSAN_FIBERS)
// How a goroutine dies, as Boost does it: its last switch away leaves its
// stack suspended inside Boost's terminate; later the scheduler fiber deletes the
// context (and our record with it), then resumes that stack once, so that it
// unwinds its last frames and frees itself from atop the scheduler fiber's stack.
// TSan is told of none of these switches. So when the record goes, the
// scheduler fiber takes on the dying goroutine's TSan fiber: the frames that close
// on the dying stack then pop that fiber's shadow stack, where they were
// pushed. The scheduler fiber takes its own fiber back at its next call into us
// (awakened, pick_next), and the borrowed one is destroyed then.
CSP_NO_SANITIZE_THREAD void proc::tsan_borrow(void* dying) noexcept {
    void* previous = tsan_borrowed_;
    __tsan_switch_to_fiber(dying, 0);
    if (previous) __tsan_destroy_fiber(previous);  // no longer current
    tsan_borrowed_ = dying;
}

CSP_NO_SANITIZE_THREAD void proc::tsan_return() noexcept {
    if (!tsan_borrowed_) return;
    __tsan_switch_to_fiber(tsan_sched_fiber_, 0);
    __tsan_destroy_fiber(tsan_borrowed_);
    tsan_borrowed_ = nullptr;
}

CSP_NO_SANITIZE_THREAD void tsan_retire(void* fiber) noexcept {
    if (!fiber) return;
    proc* p = current_proc();
    if (p && p->on_sched_fiber()) p->tsan_borrow(fiber);  // last: switches fibers
    else __tsan_destroy_fiber(fiber);                   // never ran (spawn failed)
}
#endif

stack_bounds proc::bounds_of(context* ctx) const noexcept {
    if (ctx == main_ctx_) return thread_stack_;
    if (ctx == sched_fiber_ctx_) {
        // Boost puts the scheduler fiber's context object at the top of its
        // default-size stack.
        const std::size_t size = boost::context::stack_traits::default_size() - 512;
        return {reinterpret_cast<const char*>(ctx) - size, size};
    }
    if (goroutine* g = goroutine::of(ctx)) return {g->stack_bottom, g->stack_size};
    return {};
}

context* proc::attach(context* ctx) noexcept {
    // Last run elsewhere (or never): Boost's pointer to this thread's
    // scheduler, and out of the list that attaching links it into (only
    // this thread touches this thread's list: nothing crosses threads).
    // Pinned contexts (this thread's main and scheduler fiber) never move:
    // theirs is always this scheduler.
    if (ctx->get_scheduler() != sched_) {
        sched_->attach_worker_context(ctx);
        ctx->worker_unlink();
    }
    return ctx;
}

void proc::push_local(context* ctx) noexcept {
    queue_t overflow;
    std::size_t moved = 0;
    {
        std::lock_guard lk(qmu_);
        if (!queue_.full()) {
            queue_.push_back(ctx);
        } else {  // a yield or a steal filled it past the limit: rare
            overflow.push_back(*ctx);
            ++moved;
        }
        // Go's runqputslow: a full local queue sends its older half to the
        // global queue. Besides balancing, this keeps a spawning tree from
        // going breadth-first: the oldest waiting siblings stop coming first.
        if (queue_.size() > local_queue_limit) {
            for (std::size_t k = 0; k < local_queue_limit / 2; ++k) overflow.push_back(*queue_.pop_front());
            moved += local_queue_limit / 2;
        }
        qlen_.store(queue_.size(), std::memory_order_relaxed);
    }
    if (moved) rt_.inject_batch(overflow, moved);
    // Why: a parked thread may be waiting for exactly this work. Not when
    // this is the only scheduler thread (CSP_PROCS=1, no stand-in): nobody
    // to wake. (A stand-in started meanwhile is woken by the monitor that
    // starts it.)
    else if (rt_.size() > 1) rt_.wakep_for_local();
}

context* proc::pop_local() noexcept {
    if (qlen_.load(std::memory_order_relaxed) == 0) return nullptr;
    std::lock_guard lk(qmu_);
    if (queue_.empty()) return nullptr;
    // Newest first: a tree of spawns then runs depth-first, finishing
    // children before starting their cousins (a handful live instead of a
    // whole level). Every 61st pick takes the oldest, so nobody starves;
    // thieves take the oldest too.
    context* ctx = picks() % 61 == 0 ? queue_.pop_front() : queue_.pop_back();
    qlen_.store(queue_.size(), std::memory_order_relaxed);
    return ctx;
}

CSP_NO_SANITIZE_THREAD void proc::awakened(context* ctx) noexcept {
#if defined(CSP_TSAN_FIBERS)
    tsan_return();  // Boost's scheduler fiber may call us right after freeing goroutines
#endif
    enqueue_awakened(ctx);
}

void proc::enqueue_awakened(context* ctx) noexcept {
    landed();
    if (ctx->is_context(boost::fibers::type::dispatcher_context)) {
        sched_fiber_ = sched_fiber_ctx_ = ctx;  // kept aside: see pick_next
        return;
    }
    if (is_pinned(ctx)) {
        pinned_.push_back(*ctx);
        return;
    }
    // Boost hands us fibers it made ready (yield, its own primitives, remote
    // wake-ups): in no worker list (see attach), any thread may run them.
    if (yielding_) {
        // csp::yield: to the back of the line, behind everything waiting.
        yielding_ = false;
        std::lock_guard lk(qmu_);
        if (!queue_.full()) {
            queue_.push_front(ctx);
            qlen_.store(queue_.size(), std::memory_order_relaxed);
            return;
        }
    }
    push_local(ctx);
}

void proc::push_runnext(context* ctx) noexcept {
    // Empty: a plain store. Only the owner (us) ever puts a goroutine in
    // runnext; thieves and the monitor only take one out, and there is none
    // to take, so nobody can write it between our load and our store. One
    // locked instruction fewer per hand-off (Go CASes here).
    if (runnext_.load(std::memory_order_relaxed) == nullptr) {
        runnext_.store(ctx, std::memory_order_release);  // publishes ctx to a thief
        return;
    }
    // Exchange: a thief may have taken the old one meanwhile (steal_runnext).
    if (context* old = runnext_.exchange(ctx, std::memory_order_acq_rel)) push_local(old);  // wakes a thread
    // No wake-up for runnext itself (Go wakes one here): nearly always the
    // waker blocks next and hands over to `ctx` on this thread, and waking
    // an idle thread at every hand-off made pingpong at 2 threads 1.6x
    // slower (a futex wake and a spinning thread per ~40 us). If the waker
    // keeps running instead, a spinning thread notices (suspend_until) or
    // the monitor does within its poll (monitor.cpp), and either one steals.
}

// What Boost's scheduler::suspend does (pick_next, then resume), with our
// own hand-off of `lk`: set after pick_next, whose landed() must not see it,
// and released by the context that lands (landed), once this one's stack is
// left. Not instrumented by ThreadSanitizer: pick_next has switched TSan's
// fiber already (see pick_next).
CSP_NO_SANITIZE_THREAD void proc::park(context* self, spin_mutex* lk) noexcept {
    // In no worker list (see attach): whichever thread wakes it may run it.
    context* next = pick_next();
    unlock_on_landing_ = lk;
    next->resume();
    current_proc()->landed();  // maybe another thread's proc by now
}

[[gnu::always_inline]] inline context* proc::take_runnext() noexcept {
    // Fairness: a chain of goroutines waking each other through runnext must
    // not starve the queue (Go bounds it by the time slice it inherits).
    if (!has_runnext() || (++runnext_streak_ >= runnext_limit && qlen_.load(std::memory_order_relaxed) != 0))
        return nullptr;
    // Exchange, not a plain store: a thief may take it first (then null).
    return runnext_.exchange(nullptr, std::memory_order_acq_rel);
}

context* proc::steal_runnext() noexcept {
    context* seen = runnext_.load(std::memory_order_acquire);
    if (!seen) return nullptr;
    const std::uint32_t picks_seen = picks();
    // The grace: a waker that blocks right away picks `seen` itself, which
    // shows as a new pick count (or another runnext).
    const clock::time_point until = clock::now() + runnext_grace;
    do {
        for (int k = 0; k < 16; ++k) spin_pause();
        if (picks() != picks_seen || runnext_.load(std::memory_order_relaxed) != seen) return nullptr;
    } while (clock::now() < until);
    // Still there, and the owner has not picked since: it is stranded.
    if (runnext_.compare_exchange_strong(seen, nullptr, std::memory_order_acq_rel)) return seen;
    return nullptr;
}

bool proc::stranded_runnext_elsewhere(std::uint32_t* seen) noexcept {
    // A runnext counts as stranded once two looks, a spin interval apart,
    // see the same pick count on its proc: the owner runs one goroutine on.
    bool stranded = false;
    const std::size_t n = rt_.size();
    for (std::size_t i = 0; i < n && i < max_watch; ++i) {
        proc& v = rt_.at(i);
        const std::uint32_t now = v.picks();
        if (&v != this && v.has_runnext() && now == seen[i]) stranded = true;
        seen[i] = now;
    }
    return stranded;
}

context* proc::take_work() noexcept {
    if (retired_.load(std::memory_order_relaxed)) {  // a stand-in whose stuck proc moves again
        // Why wakep even when nothing was ours: retired while spinning, we
        // may be the spinner whose presence made a waker skip its wakep.
        if (surrender() == 0 && rt_.has_injected()) rt_.wakep();
        return nullptr;
    }
    // Goroutines their timers woke, first (every pick that gets here, at
    // least each timer_check_every-th): a sleeper must not sink under churn.
    if (rt_.has_urgent()) {
        if (context* ctx = rt_.take_injected()) return ctx;
    }
    if (context* ctx = take_runnext()) return ctx;
    runnext_streak_ = 0;
    if (!pinned_.empty()) {
        context* ctx = &pinned_.front();
        pinned_.pop_front();
        return ctx;
    }
    // Now and then the global queue first, so it is never starved (Go: 1/61).
    if (picks() % 61 == 0 && rt_.has_injected()) {
        if (context* ctx = rt_.take_injected()) return ctx;
    }
    if (context* ctx = pop_local()) {
        if (has_runnext()) {  // the streak ended: runnext waits behind the queue
            if (context* r = runnext_.exchange(nullptr, std::memory_order_acq_rel)) push_local(r);
        }
        return ctx;
    }
    if (has_runnext()) {
        if (context* ctx = runnext_.exchange(nullptr, std::memory_order_acq_rel)) return ctx;
    }
    if (rt_.has_injected()) {
        if (context* ctx = rt_.take_injected()) return ctx;
    }
    // Steal, starting at a random victim.
    const std::size_t n = rt_.size();
    if (n > 1) {
        const std::size_t start = next_random(rng_) % n;
        for (std::size_t k = 0; k < n; ++k) {
            proc& victim = rt_.at((start + k) % n);
            if (&victim == this || !victim.has_stealable()) continue;
            if (context* ctx = victim.steal_into(*this)) return ctx;
        }
        // Nothing queued anywhere: a runnext its owner does not get to.
        for (std::size_t k = 0; k < n; ++k) {
            proc& victim = rt_.at((start + k) % n);
            if (&victim == this || !victim.has_runnext()) continue;
            if (context* ctx = victim.steal_runnext()) return ctx;
        }
    }
    return nullptr;
}

context* proc::steal_into(proc& thief) noexcept {
    // Room in the thief's queue: only its owner (the caller) adds to it, so
    // its count only overstates what is there.
    const std::size_t room = decltype(queue_)::capacity - thief.qlen_.load(std::memory_order_relaxed);
    // This frame may be on a parking goroutine's stack (park -> pick_next):
    // a bounded steal keeps it small.
    context* taken[steal_max];
    std::size_t n;
    {
        std::unique_lock lk(qmu_, std::try_to_lock);
        if (!lk.owns_lock()) return nullptr;  // contended: try another victim
        // Pointers only: no goroutine is touched under the victim's lock.
        n = std::min({(queue_.size() + 1) / 2, steal_max, room + 1});
        for (std::size_t k = 0; k < n; ++k) taken[k] = queue_.pop_front();
        qlen_.store(queue_.size(), std::memory_order_relaxed);
    }
    if (n == 0) return nullptr;
    if (n > 1) {
        std::lock_guard tl(thief.qmu_);
        for (std::size_t k = 1; k < n; ++k) thief.queue_.push_back(taken[k]);
        thief.qlen_.store(thief.queue_.size(), std::memory_order_relaxed);
    }
    return taken[0];
}

// Not instrumented by ThreadSanitizer: it tells TSan which fiber runs next,
// and from then until Boost switches stacks no instrumented frame may open
// or close. A function-exit hook would pop the next fiber's shadow call
// stack, not ours, and underflow it.
CSP_NO_SANITIZE_THREAD context* proc::pick_next() noexcept {
#if defined(CSP_TSAN_FIBERS)
    tsan_return();  // Boost's scheduler fiber may call us right after freeing goroutines
#endif
    context* next = choose_next();
#if defined(CSP_TSAN_FIBERS)
    if (next) {
        void* fiber = tsan_fiber_of(next);  // a complete call, before the switch
        if (fiber) __tsan_switch_to_fiber(fiber, 0);  // 0: the switch orders the two fibers
    }
#endif
    return next;
}

context* proc::choose_next() noexcept {
    landed();
    const std::uint32_t pick = picks() + 1;
    picks_.store(pick, std::memory_order_relaxed);  // owner-only: no read-modify-write
    // Fast path, a goroutine handing over to the one it woke: runnext is
    // set, its streak has room, and the scheduler fiber owes nothing (no remote
    // wake-ups, few dead fibers, not a periodic pick). The same choice as
    // the full path below, with fewer checks.
    if (has_runnext() && sched_fiber_ && pick % timer_check_every != 0 && terminated_ < terminated_batch &&
        !remote_.load(std::memory_order_relaxed)) {
        if (context* ctx = take_runnext()) return run(attach(ctx));
    }
    // Boost's scheduler fiber frees terminated fibers, moves fibers other threads
    // woke through Boost into our queue, and fires Boost's sleep queue.
    // Timers fire on the scheduler fiber too, never here in a parking fiber: a
    // timer may have to wake the very goroutine that is parking (deadlock on
    // its park_lock).
    const bool timers_due = pick % timer_check_every == 0 && !rt_.timers.empty();
    if (sched_fiber_ && (remote_.load(std::memory_order_relaxed) || terminated_ >= terminated_batch ||
                        timers_due || pick % housekeeping_every == 0)) {
        remote_.store(false, std::memory_order_relaxed);
        terminated_ = 0;
        context* d = sched_fiber_;
        sched_fiber_ = nullptr;
        return run(d);
    }
    if (!sched_fiber_ && !rt_.timers.empty()) rt_.fire_timers(clock::now());  // we are the scheduler fiber
    if (context* ctx = take_work()) return run(attach(ctx));
    if (sched_fiber_) {
        // Nothing to run: the scheduler fiber idles in suspend_until.
        context* d = sched_fiber_;
        sched_fiber_ = nullptr;
        return run(d);
    }
    return nullptr;  // we are the scheduler fiber: Boost calls suspend_until
}

bool proc::has_ready_fibers() const noexcept {
    return has_runnext() || !pinned_.empty() || qlen_.load(std::memory_order_relaxed) != 0;
}

bool proc::has_work() noexcept {
    if (has_runnext() || !pinned_.empty() || qlen_.load(std::memory_order_relaxed) != 0) return true;
    return remote_.load(std::memory_order_relaxed) || rt_.has_queued_work();
}

std::size_t proc::surrender() noexcept {
    queue_t batch;
    std::size_t n = 0;
    {
        std::lock_guard lk(qmu_);
        n = queue_.size();
        while (!queue_.empty()) batch.push_back(*queue_.pop_front());
        qlen_.store(0, std::memory_order_relaxed);
    }
    // Exchange: the owner may be taking or replacing it right now.
    if (context* r = runnext_.exchange(nullptr, std::memory_order_acq_rel)) {
        batch.push_back(*r);
        ++n;
    }
    if (n) rt_.inject_batch(batch, n);  // wakes an idle thread
    return n;
}

void proc::retire() noexcept {
    retired_.store(true, std::memory_order_release);
    // Parked as an idle thread: wake it, so that it parks again uncounted.
    wake_thread();
}

void proc::reactivate() noexcept {
    retired_.store(false, std::memory_order_release);
    wake_thread();
}

void proc::suspend_until(std::chrono::steady_clock::time_point const& tp) noexcept {
    landed();
    if (retired_.load(std::memory_order_acquire)) {
        // A stand-in with nothing to cover: sleeps until the monitor needs
        // it again (its timers are the other threads' to fire), and leaves
        // the ended goroutines it kept to the others.
        share_idle_goroutines();
        park_thread(clock::time_point::max());
        return;
    }
    looking_.store(true, std::memory_order_relaxed);
    struct done_looking {
        std::atomic<bool>& flag;
        ~done_looking() { flag.store(false, std::memory_order_relaxed); }
    } done{looking_};
    // Spin first: a parked thread costs tens of microseconds to wake. But
    // not with half the busy threads spinning already (Go's rule in
    // findRunnable): they find the work as soon, and more spinners only burn
    // the CPU the busy ones (or a server beside us) need.
    const int busy = static_cast<int>(rt_.size()) - rt_.idle.load(std::memory_order_relaxed);
    if (2 * rt_.spinning.load(std::memory_order_relaxed) < busy && spin_for_work()) return;
    if (!rt_.timers.empty() && rt_.fire_timers(clock::now()) > 0) return;
    if (has_work()) return;
    park_thread(tp);  // it adds the timers' deadline, once counted idle
    if (!rt_.timers.empty()) rt_.fire_timers(clock::now());
}

bool proc::spin_for_work() noexcept {
    rt_.spinning.fetch_add(1, std::memory_order_seq_cst);
    std::uint32_t picks_seen[max_watch];
    for (std::uint32_t& p : picks_seen) p = ~0u;
    bool stranded = false;
    bool found = true;  // the loop ends with work in sight, or out of budget
    const clock::time_point spin_start = clock::now();
    clock::time_point next_look = spin_start;
    for (;;) {
        if (has_work()) break;
        const clock::time_point now = clock::now();
        if (!rt_.timers.empty() && rt_.timers.next_deadline() <= now) break;
        // Now and then: a busy proc's runnext waits for a thread (take_work
        // steals it after the grace).
        if (now >= next_look) {
            next_look = now + runnext_look_every;
            if ((stranded = stranded_runnext_elsewhere(picks_seen))) break;
        }
        if (now - spin_start >= spin_budget_) {
            found = false;
            break;
        }
        for (int k = 0; k < 8; ++k) spin_pause();
    }
    rt_.spinning.fetch_sub(1, std::memory_order_seq_cst);
    const clock::duration took = clock::now() - spin_start;
    spin_budget_ = found && took < spin_quick ? std::min<clock::duration>(spin_budget_ * 2, spin_max)
                                     : std::max<clock::duration>(spin_budget_ / 2, spin_min);
    return stranded;  // Boost picks again: take_work steals it
}

void proc::park_thread(clock::time_point deadline) noexcept {
    std::unique_lock lk(park_mu_);
    parked_ = true;
    // A retired stand-in is not there for wakep: it does not count as idle.
    const bool counted = !retired_.load(std::memory_order_acquire);
    if (counted) rt_.idle.fetch_add(1, std::memory_order_seq_cst);
    else rt_.parked_standins.fetch_add(1, std::memory_order_seq_cst);  // holds nothing either (exit's stop_all)
    // Why re-check after announcing: a waker adds work, then reads `idle`
    // (both seq_cst); we announce, then read the queues. One of us sees the
    // other, so work is never left with every thread asleep.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // Why the timers' deadline is read only now, after announcing: a timer
    // started before `parked_ = true` found nobody parked to wake
    // (timer_start unparks under park_mu_, which we now hold), and the last
    // timer dropped before we counted as idle skipped waking us
    // (wake_timed_sleepers); a deadline read earlier would have us sleep
    // past the first, or until the second's time instead of for good, with
    // the deadlock report waiting on it.
    if (counted)
        if (const clock::time_point t = rt_.timers.next_deadline(); t < deadline) deadline = t;
    // A retired stand-in waits for the monitor alone, whatever work there is.
    if (!unparked_ && (!counted || !has_work()) && deadline > clock::now()) {
        if (deadline == clock::time_point::max()) {
            parked_forever_ = true;
            // The last scheduler thread to fall asleep for good looks for a
            // deadlock (Go's checkdead), without holding its own lock: the
            // check takes every proc's lock in turn.
            if (rt_.idle_forever.fetch_add(1, std::memory_order_acq_rel) + 1 == rt_.size()) {
                lk.unlock();
                rt_.check_deadlock();
                lk.lock();
            }
            park_cv_.wait(lk, [&] { return unparked_; });
            rt_.idle_forever.fetch_sub(1, std::memory_order_acq_rel);
            parked_forever_ = false;
        } else {
            park_cv_.wait_until(lk, deadline, [&] { return unparked_; });
        }
    }
    parked_ = false;
    if (unparked_) rt_.waking.store(false, std::memory_order_release);  // maybe not wakep's, harmless
    unparked_ = false;
    if (counted) rt_.idle.fetch_sub(1, std::memory_order_seq_cst);
    else rt_.parked_standins.fetch_sub(1, std::memory_order_seq_cst);
}

bool proc::asleep_for_good() noexcept {
    std::lock_guard lk(park_mu_);
    return parked_forever_ && !unparked_ && !has_work();
}

bool proc::unpark() noexcept {
    // A retired stand-in takes no work: wake a real one instead (reactivate).
    if (retired_.load(std::memory_order_acquire)) return false;
    return wake_thread();
}

bool proc::wake_thread() noexcept {
    std::lock_guard lk(park_mu_);
    if (!parked_ || unparked_) return false;
    unparked_ = true;
    park_cv_.notify_one();
    return true;
}

void proc::notify() noexcept {
    // From another thread (Boost's schedule_from_remote): let the scheduler fiber
    // run soon, and wake us if we sleep.
    remote_.store(true, std::memory_order_seq_cst);
    unpark();
}

}  // namespace csp::detail
