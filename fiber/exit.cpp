// Stopping the scheduler threads at exit (see internal/exit.hpp).
//
// Invariants
//  1. The exit handler runs once, on the exiting thread, before the
//     destructor of every static constructed before it was registered.
//  2. A scheduler thread is stopped only where it holds no lock: at a safe
//     point (a goroutine resuming: started, back from a park or a yield) or
//     asleep in the scheduler with nothing to run. Stopped, it never runs
//     again; goroutine stacks stay mapped until the process is gone.
//  3. The handler returns once every other scheduler thread is stopped or
//     asleep. One that wakes afterwards runs only the scheduler (timers,
//     freeing finished goroutines: heap objects, no statics with
//     destructors) and then stops at its next safe point.
//
// A goroutine that neither blocks nor yields for `grace` (a long
// computation) is stopped by a signal wherever it stands, as Go stops
// everything at exit. If it holds a lock then (its own, or the allocator's
// inside malloc) a static destructor that needs that lock waits forever:
// a goroutine that computes for long should look at a done channel or
// call csp::yield() now and then.
#include <fiber/internal/exit.hpp>

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <fiber/internal/runtime.hpp>

namespace csp::detail {

std::atomic<bool> exit_stopping{false};

namespace {

constexpr auto grace = std::chrono::seconds(1);
constexpr std::size_t max_threads = 1024;  // beyond: not stopped (and not crashed into either)

struct scheduler_thread {
    pthread_t id;
    std::atomic<bool> stopped{false};
};
scheduler_thread threads[max_threads];  // trivially destroyed: read at exit
std::atomic<std::size_t> thread_count{0};
thread_local scheduler_thread* tl_self = nullptr;
std::atomic<int> signal_stops{0};

int stop_signal() noexcept { return SIGRTMAX - 2; }  // not glibc's (SIGRTMIN..+2), not Go's SIGURG

[[noreturn]] void stay() noexcept {
    sigset_t none_allowed;
    sigfillset(&none_allowed);
    for (;;) ::sigsuspend(&none_allowed);  // only SIGKILL and SIGSTOP get through
}

void stop_by_signal(int) {
    signal_stops.fetch_add(1, std::memory_order_acq_rel);
    stay();
}

template <class Done>
bool wait_until(std::chrono::steady_clock::time_point deadline, Done done) {
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        // Why a sleep, not sched_yield: the wait may last the whole grace,
        // and an exiting process must not take a core from the others.
        std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    return true;
}

void stop_all() noexcept {
    if (exit_stopping.exchange(true, std::memory_order_seq_cst)) return;  // once, however often registered
    runtime* rt = runtime::if_started();
    if (!rt) return;
    const std::size_t n = thread_count.load(std::memory_order_acquire);
    const std::size_t others = n - (tl_self ? 1 : 0);
    auto stopped_at_safe_points = [&] {
        std::size_t k = 0;
        for (std::size_t i = 0; i < n; ++i) k += threads[i].stopped.load(std::memory_order_acquire);
        return k;
    };
    // Idle threads park in the scheduler, holding nothing: stopped enough.
    auto quiet = [&] {
        return stopped_at_safe_points() + static_cast<std::size_t>(rt->idle.load(std::memory_order_seq_cst)) +
                   static_cast<std::size_t>(rt->parked_standins.load(std::memory_order_seq_cst)) >=
               others;
    };
    if (wait_until(std::chrono::steady_clock::now() + grace, quiet)) return;
    // A goroutine that has not come to a safe point: stop it where it is.
    int sent = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (&threads[i] == tl_self || threads[i].stopped.load(std::memory_order_acquire)) continue;
        if (::pthread_kill(threads[i].id, stop_signal()) == 0) ++sent;
    }
    // Bounded: a thread that cannot take the signal must not hang the exit.
    wait_until(std::chrono::steady_clock::now() + std::chrono::seconds(2),
               [&] { return signal_stops.load(std::memory_order_acquire) >= sent; });
}

}  // namespace

void stop_at_safe_point() noexcept {
    if (tl_self) tl_self->stopped.store(true, std::memory_order_release);
    stay();
}

void enlist_scheduler_thread() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa {};
        sa.sa_handler = stop_by_signal;
        sigfillset(&sa.sa_mask);
        ::sigaction(stop_signal(), &sa, nullptr);
    });
    static std::mutex mu;  // the scheduler threads start together
    std::lock_guard lk(mu);
    const std::size_t slot = thread_count.load(std::memory_order_relaxed);
    if (slot == max_threads) return;
    threads[slot].id = ::pthread_self();
    tl_self = &threads[slot];
    thread_count.store(slot + 1, std::memory_order_release);
}

void stop_scheduler_threads_at_exit() noexcept {
    // A handful of registrations (runtime start, each csp::run that returns);
    // bounded, so a loop of runs cannot grow the list without end.
    static std::atomic<int> registrations{0};
    if (registrations.fetch_add(1, std::memory_order_relaxed) < 4096) std::atexit(stop_all);
}

}  // namespace csp::detail
