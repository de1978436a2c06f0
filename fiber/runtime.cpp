#include <fiber/internal/runtime.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

#include <boost/fiber/algo/algorithm.hpp>
#include <boost/fiber/operations.hpp>

#include <fiber/go.hpp>
#include <fiber/internal/exit.hpp>
#include <fiber/internal/goroutine.hpp>
#include <fiber/internal/goroutine_pool.hpp>
#include <fiber/internal/overflow.hpp>
#include <fiber/internal/sched.hpp>

namespace csp::detail {

namespace {
thread_local proc* tl_proc = nullptr;
thread_local bool tl_firing_timers = false;  // a plain thread (the monitor) in runtime::fire_timers

std::size_t configured_procs() {
    if (const char* s = std::getenv("CSP_PROCS")) {
        long n = std::strtol(s, nullptr, 10);
        if (n > 0) return static_cast<std::size_t>(n);
    }
    unsigned n = std::thread::hardware_concurrency();
    return n ? n : 1;
}
}  // namespace

std::atomic<runtime*> runtime::instance_{nullptr};

proc* current_proc() noexcept { return tl_proc; }

runtime& runtime::get() {
    if (runtime* rt = instance_.load(std::memory_order_acquire)) return *rt;
    static std::mutex start_mu;
    std::lock_guard lk(start_mu);
    if (runtime* rt = instance_.load(std::memory_order_acquire)) return *rt;
    // Never destroyed: goroutines may still be blocked when main returns,
    // and the scheduler threads must not run into destroyed state.
    runtime* rt = new runtime();
    instance_.store(rt, std::memory_order_release);
    return *rt;
}

runtime::runtime() {
    const std::size_t n = configured_procs();
    configured_ = n;
    procs_.assign(n + max_standins, nullptr);
    for (std::size_t i = 0; i < n; ++i) start_thread(i);
    while (registered_.load(std::memory_order_acquire) != n) std::this_thread::yield();
    size_.store(n, std::memory_order_release);  // now others may steal from them
    // Why the monitor counts itself (internal_thread_started), not we for
    // it: counted before its thread exists, it let this running thread pass
    // for it, and a scheduler thread parking meanwhile reported csp::run's
    // main goroutine, about to be queued, as a deadlock (seen in CI at
    // CSP_PROCS=1 under ASan, where thread creation is slow).
    std::thread([this] {
        internal_thread_started();
        monitor_main();
    }).detach();
    stop_scheduler_threads_at_exit();
}

void runtime::start_thread(std::size_t index) {
    std::thread([this, index] {
        watch_stack_overflow();
        enlist_scheduler_thread();  // stand-ins too: the exit stops every thread that runs goroutines
        boost::fibers::use_scheduling_algorithm<proc>(*this, index);
        // use_scheduling_algorithm keeps the algorithm; find it again.
        procs_[index] = tl_proc;
        registered_.fetch_add(1, std::memory_order_acq_rel);
        // Nobody steals before the proc is counted in size_ (by the starter).
        while (size_.load(std::memory_order_acquire) <= index) std::this_thread::yield();
        thread_main(index);
    }).detach();
}

void runtime::thread_main(std::size_t) {
    // The thread's main context parks for good; the scheduler fiber and the
    // goroutines run on this thread from now on.
    boost::fibers::context::active()->suspend();
}

void runtime::inject(boost::fibers::context* ctx) noexcept {
    note_outside_activity();
    {
        std::lock_guard lk(inject_mu_);
        inject_.push_back(*ctx);
        inject_len_.fetch_add(1, std::memory_order_relaxed);
    }
    wakep();
}

void runtime::inject_batch(proc::queue_t& batch, std::size_t n) noexcept {
    {
        std::lock_guard lk(inject_mu_);
        inject_.splice(inject_.end(), batch);
        inject_len_.fetch_add(n, std::memory_order_relaxed);
    }
    wakep();
}

bool runtime::has_queued_work() noexcept {
    if (has_injected()) return true;
    for (std::size_t i = 0; i < size(); ++i)
        if (at(i).has_stealable()) return true;
    return false;
}

boost::fibers::context* runtime::take_injected() noexcept {
    std::lock_guard lk(inject_mu_);
    if (inject_.empty()) return nullptr;
    boost::fibers::context* ctx = &inject_.front();
    inject_.pop_front();
    inject_len_.fetch_sub(1, std::memory_order_relaxed);
    // The front is where urgent ones wait: taking it takes one of them.
    if (urgent_.load(std::memory_order_relaxed) != 0) urgent_.fetch_sub(1, std::memory_order_relaxed);  // under inject_mu_
    return ctx;
}

void runtime::inject_urgent(boost::fibers::context* ctx) noexcept {
    note_outside_activity();
    {
        std::lock_guard lk(inject_mu_);
        inject_.push_front(*ctx);
        inject_len_.fetch_add(1, std::memory_order_relaxed);
        urgent_.fetch_add(1, std::memory_order_relaxed);
    }
    wakep();
}

std::size_t runtime::fire_timers(clock::time_point now) noexcept {
    proc* p = tl_proc;
    bool& flag = p ? p->firing_timers : tl_firing_timers;
    flag = true;
    const std::size_t fired = timers.run_due(now);
    flag = false;
    return fired;
}

void runtime::wakep() noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with proc::park_thread
    if (idle.load(std::memory_order_seq_cst) == 0 || spinning.load(std::memory_order_seq_cst) != 0) return;
    // One wake-up at a time (Go's CAS on nmspinning): until the woken thread
    // is up and looking (it clears `waking`, then counts as spinning), more
    // ready goroutines need no other thread; without this, every hand-off
    // in between would take the park locks again.
    if (waking.exchange(true, std::memory_order_acq_rel)) return;
    for (proc* p : all())
        if (p->unpark()) return;  // it clears `waking` when it runs
    waking.store(false, std::memory_order_release);
}

bool in_goroutine() noexcept { return tl_proc != nullptr; }

namespace {
// make_ready's cold half, kept out of line so that the hot half inlines
// into its callers (parker::wake, spawn) as before.
[[gnu::noinline]] void make_ready_elsewhere(boost::fibers::context* ctx) noexcept {
    if (tl_firing_timers || (tl_proc && tl_proc->firing_timers)) runtime::get().inject_urgent(ctx);  // a sleeper
    else runtime::get().inject(ctx);
}
}  // namespace

void make_ready(boost::fibers::context* ctx) noexcept {
    proc* p = tl_proc;
    if (p && !p->firing_timers) [[likely]] {
        p->push_runnext(ctx);
        return;
    }
    make_ready_elsewhere(ctx);
}

goroutine_ref current_goroutine() noexcept {
    proc* p = tl_proc;
    return p ? goroutine_ref{goroutine::of(p->running()), p} : goroutine_ref{};
}

bool on_proc(const void* p) noexcept { return tl_proc == p; }

void park_current(boost::fibers::context* self, spin_mutex& lk) noexcept {
    tl_proc->park(self, &lk);
    stop_here_if_exiting();
}

std::size_t procs() { return runtime::get().configured(); }  // not the stand-ins

// proc registers itself for its thread when Boost constructs it.
void register_proc(proc* p) noexcept { tl_proc = p; }

namespace {
std::atomic<panic_handler> the_panic_handler{nullptr};
}

void goroutine_panicked(std::exception_ptr e) noexcept {
    if (panic_handler h = the_panic_handler.load(std::memory_order_acquire)) {
        h(e);
        return;
    }
    std::string what = "unknown exception";
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        what = ex.what();
    } catch (...) {
    }
    std::fprintf(stderr, "panic: %s\n\ngoroutine exited with an uncaught exception\n", what.c_str());
    std::fflush(stderr);
    std::abort();
}

void goroutine_started() noexcept {
    if (proc* p = tl_proc) p->landed();
    stop_here_if_exiting();
}

bool goroutine_finished(goroutine* g) noexcept {
    proc* p = tl_proc;
    // Its last switch away: checked before what it made ready runs here.
    g->check_canary(canary_check::whole);
    if (g->poolable && keep_idle_goroutine(g)) {
        p->park(g->context(), nullptr);  // at once: invariant 1 of goroutine_pool.cpp
        if (g->ops) return true;         // a go() gave it its next body
        // No body: the pool's trim ended it (end_idle_surplus). Ends for real
        // on the thread it woke on.
        stop_here_if_exiting();
        idle_goroutine_ended();
        p = tl_proc;
    }
    p->note_terminated();
    return false;
}

}  // namespace csp::detail

namespace csp {

panic_handler set_panic_handler(panic_handler h) noexcept {
    return detail::the_panic_handler.exchange(h, std::memory_order_acq_rel);
}

std::size_t procs() { return detail::procs(); }

void yield() noexcept {
    if (detail::proc* p = detail::current_proc()) {
        if (const detail::goroutine* g = detail::goroutine::of(p->running()))
            g->check_canary(detail::canary_check::below);  // a switch away
        p->note_yield();
        boost::this_fiber::yield();
        detail::current_proc()->landed();  // maybe another thread's proc by now
        detail::stop_here_if_exiting();
    } else {
        std::this_thread::yield();
    }
}

}  // namespace csp
