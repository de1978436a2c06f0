// Jobs of the dispatcher: their ids, states, options, what a query reports,
// the dispatcher's errors, and the typed handle submit() returns.
//
//   csp::job_handle<int> h = d.submit([] { return 6 * 7; });
//   int v = h.get();                      // 42, or the job's exception rethrown
//   csp::job_info i = h.info();           // state, times, attempts, worker, error
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include <chan/chan.hpp>
#include <chan/context.hpp>

namespace csp {

/// A job's id: unique within its dispatcher, from 1 up, in submission order
/// of each submitter.
using job_id = std::uint64_t;
/// A worker's id: unique within its dispatcher, from 1 up.
using worker_id = std::uint64_t;

/// Where a job is. The last four are final: a job reaches exactly one of
/// them, exactly once.
enum class job_state : unsigned char {
    queued,     // waiting for a worker
    scheduled,  // waiting for its start time (submit_at, submit_after)
    running,    // a worker runs it
    retrying,   // failed or timed out, waiting to be run again
    succeeded,
    failed,     // threw; error() has the text
    cancelled,  // cancelled before it ran, or while it ran
    timed_out,  // its timeout expired while it ran
};
const char* to_string(job_state s) noexcept;
constexpr bool is_final(job_state s) noexcept { return s >= job_state::succeeded; }

/// Order among queued jobs: a higher priority job is always started before a
/// lower one; equal priorities run in submission order.
enum class job_priority : unsigned char { low, normal, high };

/// Sidekiq's and asynq's default retry delay: retry^4 + 15 + rand(0..9) *
/// (retry + 1) seconds, for the retry-th retry (1, 2, ...): exponential
/// growth with jitter, so jobs that failed together do not retry together.
std::chrono::steady_clock::duration sidekiq_backoff(unsigned retry);

/// Per-job options: `d.submit(f, {.name = "resize", .timeout = 2s, .retries = 3})`.
struct job_options {
    std::string name{};
    /// 0: none. Otherwise the job's context expires after this long from its
    /// start; a job still running then ends timed_out when it returns.
    std::chrono::steady_clock::duration timeout{};
    job_priority priority = job_priority::normal;
    /// A job that fails or times out is run again up to this many times
    /// (state retrying in between); a cancelled job never is.
    unsigned retries = 0;
    /// The delay before the retry-th retry; null: sidekiq_backoff.
    std::function<std::chrono::steady_clock::duration(unsigned retry)> backoff{};
    /// Not started before this time (submit_at / submit_after set it); the
    /// job is `scheduled` until then.
    std::chrono::steady_clock::time_point not_before{};
    /// Empty: none. Otherwise at most one job with this key is open (queued,
    /// scheduled, running or retrying) at a time: a submit while one is
    /// returns that job's handle instead of a new job (asynq's Unique; its
    /// options win, these are dropped). The key is free again once that job
    /// is final. A handle's type must match: the same result type, else
    /// dispatcher_error(key_conflict).
    std::string unique_key{};
};

/// A snapshot of one job, from dispatcher::info(id) or job_handle::info().
struct job_info {
    using time_point = std::chrono::steady_clock::time_point;

    job_id id = 0;
    std::string name;
    job_state state = job_state::queued;
    job_priority priority = job_priority::normal;
    time_point submitted{};
    time_point started{};   // epoch until it starts
    time_point finished{};  // epoch until it ends
    unsigned attempts = 0;  // times a worker started it (retries included)
    worker_id worker = 0;   // the worker that ran it last (0: none yet)
    std::string error;      // failed: the exception's what(); cancelled/timed_out: why

    bool has_started() const noexcept { return started != time_point{}; }
    bool has_finished() const noexcept { return finished != time_point{}; }
    /// finished - started; while running, the time it has run so far
    /// (measured when the snapshot was taken: `as_of`); zero if not started.
    std::chrono::steady_clock::duration run_time() const noexcept {
        if (!has_started()) return {};
        return (has_finished() ? finished : as_of) - started;
    }
    time_point as_of{};  // when the dispatcher took this snapshot
};

/// What went wrong, in dispatcher_error::code().
enum class dispatcher_errc : unsigned char {
    unknown_job,     // no job with that id in this dispatcher
    unknown_worker,  // no live worker with that id
    shut_down,       // the dispatcher is shutting down or stopped (submit, shutdown twice)
    job_cancelled,   // get() on a cancelled job
    job_timed_out,   // get() on a timed-out job
    key_conflict,    // submit with the unique key of an open job of another result type
    worker_died,     // get() on a job whose worker died while running it
};

class dispatcher_error : public std::runtime_error {
public:
    dispatcher_error(dispatcher_errc c, const std::string& what) : std::runtime_error(what), code_(c) {}
    dispatcher_errc code() const noexcept { return code_; }

private:
    dispatcher_errc code_;
};

/// What cancel(id) did. The two "already" answers are told apart by
/// whether a cancel reached the job first, not by whether it is final yet:
/// asking twice always answers already_cancelled, before and after the job
/// ends and after the dispatcher stopped.
enum class cancel_result : unsigned char {
    cancelled,          // it was waiting (queued, scheduled, retrying): it never runs, it is cancelled now
    cancelling,         // it runs: its context is cancelled; it ends cancelled when it returns
    already_cancelled,  // a cancel reached it before (cancel(), shutdown or quit now, its group):
                        // it is or will be cancelled
    already_final,      // it had ended otherwise: succeeded, failed or timed out
};
const char* to_string(cancel_result r) noexcept;

namespace detail {

struct dispatcher_state;

/// The part of a job the dispatcher, its worker and its handles share: the
/// function and, once the job is final, its outcome. Who writes what, and
/// when, is the whole synchronization:
///  - run(): only the worker that was handed the job, between "started"
///    and its report (never two at once: the loop hands a job to one worker
///    at a time);
///  - outcome, error: only the loop, right before finish();
///  - handles read value/outcome/error only after seeing the job final
///    (is_done() true, or the done channel closed), which orders them
///    after the writes.
///
/// The done channel is made only when a handle waits (most jobs nobody
/// waits on one by one: no channel, 112 bytes and a malloc saved). Its
/// word `done_`: 0 open, nobody waits; a chan<unit>* (a waiter made it);
/// with bit 0 set: final (what remains, if anything, is the closed
/// channel). Transitions, each a single atomic step: 0 -> channel (the
/// first waiter's compare-exchange), 0 -> final and channel -> final (the
/// loop's finish(), once). Nothing else writes it, so a waiter that lost
/// its compare-exchange reads what won, and the channel, once there, lives
/// until the core is destroyed.
struct job_core {
    job_id id = 0;
    job_state outcome = job_state::queued;
    bool takes_context = false;  // the function takes a const context&
    std::exception_ptr error;  // failed: the job's exception; cancelled/timed_out: the dispatcher_error get() throws

    job_core() = default;
    job_core(const job_core&) = delete;
    job_core& operator=(const job_core&) = delete;
    virtual ~job_core() { delete channel(done_.load(std::memory_order_relaxed)); }
    /// Runs the function once, keeping its value; its exception escapes.
    virtual void run(const context& ctx) = 0;

    /// The loop, once, after writing outcome and error: the job is final;
    /// wakes every waiter.
    void finish() {
        std::uintptr_t was = 0;
        // Release: a handle that sees the final bit sees outcome and error.
        if (done_.compare_exchange_strong(was, final_bit, std::memory_order_acq_rel)) return;
        channel(was)->close();  // the waiters' receives return (the close orders the writes before them)
        done_.store(was | final_bit, std::memory_order_release);
    }
    /// True once final; never blocks.
    bool is_done() const {
        const std::uintptr_t v = done_.load(std::memory_order_acquire);
        if (v & final_bit) return true;
        // Between finish()'s close and its store: the closed channel says so.
        return v != 0 && channel(v)->try_recv().status == chan_status::closed;
    }
    /// The channel to wait on (closed once final), made by the first
    /// waiter; null if the job is final already.
    const chan<unit>* waiter_channel() {
        std::uintptr_t v = done_.load(std::memory_order_acquire);
        if (v == 0) {
            auto* mine = new chan<unit>();
            if (done_.compare_exchange_strong(v, reinterpret_cast<std::uintptr_t>(mine), std::memory_order_acq_rel,
                                              std::memory_order_acquire))
                return mine;
            delete mine;  // another waiter's channel, or final: v says which
        }
        return (v & final_bit) ? nullptr : channel(v);
    }

private:
    static constexpr std::uintptr_t final_bit = 1;  // chan<unit> objects are aligned: bit 0 is free
    static chan<unit>* channel(std::uintptr_t v) noexcept { return reinterpret_cast<chan<unit>*>(v & ~final_bit); }
    std::atomic<std::uintptr_t> done_{0};
};

template <class T>
struct job_result : job_core {
    std::optional<T> value;
};
template <>
struct job_result<void> : job_core {};

template <class T, class F>
struct job_fn final : job_result<T> {
    explicit job_fn(F f) : fn(std::move(f)) { this->takes_context = std::is_invocable_v<F&, const context&>; }
    F fn;
    void run(const context& ctx) override {
        if constexpr (std::is_void_v<T>) {
            if constexpr (std::is_invocable_v<F&, const context&>) fn(ctx);
            else fn();
        } else {
            if constexpr (std::is_invocable_v<F&, const context&>) this->value.emplace(fn(ctx));
            else this->value.emplace(fn());
        }
    }
};

/// A job's result type: F() or F(const context&).
template <class F, bool with_ctx = std::is_invocable_v<F&, const context&>>
struct job_result_of {
    using type = std::invoke_result_t<F&, const context&>;
};
template <class F>
struct job_result_of<F, false> {
    using type = std::invoke_result_t<F&>;
};

template <class F>
concept job_callable = std::is_invocable_v<std::decay_t<F>&> || std::is_invocable_v<std::decay_t<F>&, const context&>;

// Handle operations, in dispatcher.cpp (they talk to the dispatcher's loop).
void wait_job(dispatcher_state& s, job_core& j);
bool wait_job_until(dispatcher_state& s, job_core& j, std::chrono::steady_clock::time_point deadline);
void rethrow_if_not_succeeded(job_core& j);
job_info query_job(dispatcher_state& s, job_id id);
cancel_result cancel_job(dispatcher_state& s, job_id id);

}  // namespace detail

/// The handle of one submitted job; T is what the job returns (void too).
/// Copies refer to the same job. Usable from any goroutine or thread, and
/// after the dispatcher has stopped.
template <class T>
class job_handle {
public:
    job_handle() = default;

    job_id id() const noexcept { return job_ ? job_->id : 0; }
    bool valid() const noexcept { return job_ != nullptr; }

    /// Blocks until the job is final; returns its value (void: nothing).
    /// Rethrows the job's exception if it failed; throws dispatcher_error
    /// (job_cancelled / job_timed_out) if it was cancelled or timed out.
    /// From inside a job of the same dispatcher, the waiting worker's place
    /// is taken by another worker meanwhile, so this never deadlocks the
    /// dispatcher.
    std::add_lvalue_reference_t<const T> get() const
        requires(!std::is_void_v<T>)
    {
        detail::wait_job(*state_, *job_);
        detail::rethrow_if_not_succeeded(*job_);
        return *job_->value;
    }
    void get() const
        requires std::is_void_v<T>
    {
        detail::wait_job(*state_, *job_);
        detail::rethrow_if_not_succeeded(*job_);
    }

    /// Blocks until the job is final (no rethrow).
    void wait() const { detail::wait_job(*state_, *job_); }
    /// Waits at most d / until t; true if the job is final.
    template <class Rep, class Period>
    bool wait_for(std::chrono::duration<Rep, Period> d) const {
        return wait_until(std::chrono::steady_clock::now() +
                          std::chrono::ceil<std::chrono::steady_clock::duration>(d));
    }
    bool wait_until(std::chrono::steady_clock::time_point t) const { return detail::wait_job_until(*state_, *job_, t); }
    /// True once the job is final (never blocks, never asks the dispatcher).
    bool done() const { return job_->is_done(); }

    /// The job's current state / full snapshot (asks the dispatcher).
    job_state status() const { return info().state; }
    job_info info() const { return detail::query_job(*state_, job_->id); }
    /// dispatcher::cancel(id()).
    cancel_result cancel() const { return detail::cancel_job(*state_, job_->id); }

private:
    friend class dispatcher;
    job_handle(std::shared_ptr<detail::dispatcher_state> s, std::shared_ptr<detail::job_result<T>> j)
        : state_(std::move(s)), job_(std::move(j)) {}
    std::shared_ptr<detail::dispatcher_state> state_;
    std::shared_ptr<detail::job_result<T>> job_;
};

}  // namespace csp
