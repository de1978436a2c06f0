// runtime: the process-wide set of scheduler threads, the global queue and
// the timer heap. Started on first use; lives until the process exits, like
// Go's: when main returns, goroutines still blocked are simply dropped.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <boost/fiber/context.hpp>

#include <fiber/detail/spin_mutex.hpp>
#include <fiber/internal/timer_node.hpp>
#include <fiber/internal/proc.hpp>

namespace csp::detail {

class timer_heap {
public:
    void start(timer_node* n);
    bool stop(timer_node* n) noexcept;
    /// Fires every timer due at `now`; returns how many fired.
    std::size_t run_due(clock::time_point now) noexcept;
    clock::time_point next_deadline() const noexcept {
        return clock::time_point(clock::duration(next_.load(std::memory_order_acquire)));
    }
    bool empty() const noexcept { return next_.load(std::memory_order_relaxed) == never; }

private:
    static constexpr clock::rep never = clock::duration::max().count();
    void push(timer_node* n);
    void erase(std::size_t i) noexcept;
    void sift_up(std::size_t i) noexcept;
    void sift_down(std::size_t i) noexcept;
    void publish_next() noexcept;

    std::mutex mu_;
    std::vector<timer_node*> heap_;
    std::atomic<clock::rep> next_{never};
};

class runtime {
public:
    static runtime& get();
    static runtime* if_started() noexcept { return instance_.load(std::memory_order_acquire); }

    /// Scheduler threads: the configured ones (CSP_PROCS), then the
    /// stand-ins the monitor started (retired ones included).
    std::size_t size() const noexcept { return size_.load(std::memory_order_acquire); }
    proc& at(std::size_t i) noexcept { return *procs_[i]; }
    std::span<proc* const> all() const noexcept { return {procs_.data(), size()}; }
    std::size_t configured() const noexcept { return configured_; }
    /// Most stand-in threads alive at once (monitor.cpp).
    static constexpr std::size_t max_standins = 4;

    /// Global queue, for goroutines made ready outside the runtime.
    void inject(boost::fibers::context* ctx) noexcept;
    /// Moves a whole batch (a proc's overflow) to the global queue.
    void inject_batch(proc::queue_t& batch, std::size_t n) noexcept;
    boost::fibers::context* take_injected() noexcept;
    bool has_injected() const noexcept { return inject_len_.load(std::memory_order_relaxed) != 0; }
    /// Goroutines wait in the global queue or in some thread's local queue.
    bool has_queued_work() noexcept;
    /// Goroutines woken by their timers wait at the front of the global
    /// queue, taken before anything else (proc::take_work): however busy
    /// the queues, a sleeper runs within a few picks of its timer firing.
    void inject_urgent(boost::fibers::context* ctx) noexcept;
    bool has_urgent() const noexcept { return urgent_.load(std::memory_order_relaxed) != 0; }
    /// Fires the due timers; goroutines they wake are urgent (see make_ready).
    std::size_t fire_timers(clock::time_point now) noexcept;

    /// Wakes a parked scheduler thread if there is one and none is spinning
    /// (Go's wakep). Called after adding stealable work.
    void wakep() noexcept;
    /// wakep for a goroutine a scheduler thread queued on itself: no fence
    /// first (a spawn paid for one, ~10% of spawn_join at 2 threads). A
    /// wake-up this misses (a thread counted itself idle while our push was
    /// still in our store buffer) costs parallelism, not progress: the work
    /// is in the queue of a thread that runs, and the next push wakes a
    /// sleeper; the monitor wakes one for work waiting on a thread that
    /// stopped picking (stranded_after) or for a queue that stays non-empty
    /// while a thread sleeps and none looks (lost_wake_after).
    void wakep_for_local() noexcept {
        if (idle.load(std::memory_order_relaxed) == 0 || spinning.load(std::memory_order_relaxed) != 0) return;
        wakep();
    }

    timer_heap timers;
    std::atomic<int> idle{0};      // parked scheduler threads
    std::atomic<int> spinning{0};  // threads looking for work before parking
    std::atomic<int> parked_standins{0};  // retired stand-ins parked (not in `idle`)
    std::atomic<bool> waking{false};  // wakep woke a thread that is not up yet
    std::atomic<std::size_t> idle_forever{0};  // parked with no deadline

    /// Called by the last scheduler thread to park with no deadline, and by
    /// a plain thread that blocks while they all sleep: if no goroutine can
    /// ever run again, reports the deadlock and exits. The caller holds no
    /// proc's park lock.
    void check_deadlock() noexcept;

    /// One line per stand-in thread the monitor started, for the goroutine
    /// dump (empty if none).
    std::string standin_report();

private:
    runtime();
    /// Starts scheduler thread `index` (its proc registers in procs_).
    void start_thread(std::size_t index);
    void thread_main(std::size_t index);
    void monitor_main() noexcept;  // monitor.cpp

    static std::atomic<runtime*> instance_;
    std::size_t configured_ = 0;
    std::vector<proc*> procs_;  // sized for every thread there may be; never reallocated
    std::atomic<std::size_t> size_{0};
    std::atomic<std::size_t> registered_{0};
    spin_mutex standin_mu_;  // the monitor's stand-in records, for standin_report
    struct standin {
        std::size_t proc = 0;     // its index in procs_
        std::size_t covers = 0;   // the stuck proc whose goroutines it runs
        bool active = false;
    };
    standin standins_[max_standins];
    std::size_t standin_count_ = 0;
    spin_mutex inject_mu_;
    proc::queue_t inject_;
    std::atomic<std::size_t> inject_len_{0};
    std::atomic<std::size_t> urgent_{0};  // the first urgent_ entries of inject_
};

/// The proc of the calling thread, or null outside the runtime.
proc* current_proc() noexcept;
/// Called by a proc on its own thread when Boost constructs it.
void register_proc(proc* p) noexcept;

/// Threads of the process that are not scheduler threads and may still
/// touch channels: all of them must be blocked in an untimed wait for a
/// deadlock to be certain.
std::size_t blocked_plain_threads() noexcept;
std::size_t internal_threads() noexcept;  // e.g. the SIGQUIT dumper
/// A thread of the runtime's own (the monitor, an idle blocking() worker)
/// starts (+1) or stops (-1) counting as one that never touches channels.
/// Only the thread itself counts itself in, once it runs: see
/// internal_thread_started.
void internal_threads_add(long delta) noexcept;
/// The first thing a runtime-internal thread (the monitor, the SIGQUIT
/// dumper) does: counts itself in, then looks for a deadlock its uncounted
/// start may have hidden from a check (a check made meanwhile saw one
/// thread more than it could account for, and stood down).
void internal_thread_started() noexcept;

}  // namespace csp::detail
