// What the dispatcher's loop, its workers and its clients share: the
// channels between them and the messages on those channels. Private to the
// dispatcher's .cpp files. See dispatcher.hpp for the invariants.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include <chan/chan.hpp>
#include <chan/context.hpp>
#include <dispatcher/dispatcher.hpp>
#include <dispatcher/job.hpp>
#include <dispatcher/job_store.hpp>

namespace csp::detail {

using clock = std::chrono::steady_clock;

/// A submitted job on its way into the loop (the intake channel). Its
/// options' small fields ride inline; the others (name, backoff, unique
/// key) only if one is set, so a job with default options moves no string
/// or function through the intake.
struct submission {
    std::shared_ptr<job_core> core;
    clock::time_point submitted{};
    clock::time_point not_before{};
    clock::duration timeout{};
    unsigned retries = 0;
    job_priority priority = job_priority::normal;
    bool holds_slot = false;  // it put a token in `slots` (bounded queue)
    group_ref group{};        // job_group::submit
    std::unique_ptr<job_options> rest;  // null: name, backoff and unique key all unset

    submission() = default;
    submission(std::shared_ptr<job_core> c, job_options&& o, clock::time_point at, bool slot, group_ref g)
        : core(std::move(c)), submitted(at), not_before(o.not_before), timeout(o.timeout), retries(o.retries),
          priority(o.priority), holds_slot(slot), group(g) {
        if (!o.name.empty() || o.backoff || !o.unique_key.empty()) rest = std::make_unique<job_options>(std::move(o));
    }
    const std::string& unique_key() const noexcept {
        static const std::string none;
        return rest ? rest->unique_key : none;
    }
};

/// Loop -> worker, on the worker's own work channel: run this job.
struct work_item {
    std::shared_ptr<job_core> core;
    context ctx;                // cancelled by the loop (cancel, quit now, shutdown now)
    clock::duration timeout{};  // > 0: the worker derives a deadline from the start time
};

/// Worker -> loop, on the worker channel: "I am idle; here is my work
/// channel". The loop answers on that channel or on the worker's quit
/// channel, never on both.
struct worker_registration {
    worker_id worker;
    chan<work_item> work;
};

/// Worker -> loop, on the status channel.
enum class status_kind : unsigned char { started, succeeded, failed, cancelled, timed_out, quit, died };
struct status_report {
    status_kind kind = status_kind::quit;
    worker_id worker = 0;
    job_id job = 0;  // 0 for quit and died (the loop knows a dead worker's job)
    clock::time_point at{};
    bool ran = true;             // false: its context was done before it started; it never ran
    std::exception_ptr error{};  // failed: the job's exception; died: what escaped the worker's loop
};

// Client -> loop, on the control channel; each with its own reply channel
// (capacity 1: the loop never blocks on a reply).
struct query_msg {
    job_id id;
    chan<std::optional<job_info>> reply;
};
struct cancel_msg {
    job_id id;
    chan<std::optional<cancel_result>> reply;
};
struct add_workers_msg {
    std::size_t n;
    chan<std::vector<worker_id>> reply;
};
struct quit_worker_msg {
    worker_id id;
    bool now;
    chan<bool> reply;  // false: no such live worker
};
struct quit_all_msg {
    bool now;
    chan<std::size_t> reply;  // how many workers were told to quit
};
struct list_workers_msg {
    chan<std::vector<worker_id>> reply;
};
struct wait_all_msg {
    job_id except;  // the caller's own job when it waits from inside one (it cannot wait for itself)
    chan<unit> reply;
};
struct shutdown_msg {
    bool now;
    bool first;        // from shutdown(): refused if a shutdown has begun; else an escalation
    chan<bool> reply;  // false: refused
};
/// A job's worker is about to block on / has stopped blocking on another
/// job of this dispatcher: the loop lends / takes back a worker.
struct blocked_msg {
    worker_id worker;
    int delta;  // +1 or -1
};
struct metrics_msg {
    chan<dispatcher_metrics> reply;
};
struct events_msg {
    chan<chan<dispatcher_event>> reply;
};
/// A submission with a unique key: it needs an answer (the job that holds
/// the key), so it goes through the control channel, not the intake.
struct unique_submit_msg {
    submission sub;
    chan<std::shared_ptr<job_core>> reply;  // null: refused (a shutdown has begun)
};
/// job_group::wait(): answered with the group's first error once none of
/// its jobs is open.
struct group_wait_msg {
    std::uint64_t group;
    chan<std::exception_ptr> reply;
};
/// ~job_group: the loop drops the group's record (its open jobs go on).
struct group_forget_msg {
    std::uint64_t group;
};
using control_msg = std::variant<query_msg, cancel_msg, add_workers_msg, quit_worker_msg, quit_all_msg,
                                 list_workers_msg, wait_all_msg, shutdown_msg, blocked_msg, metrics_msg, events_msg,
                                 unique_submit_msg, group_wait_msg, group_forget_msg>;

struct dispatcher_state {
    static constexpr std::size_t intake_capacity = 256;

    explicit dispatcher_state(const dispatcher_options& o)
        : slots(o.queue_limit == 0 ? chan<unit>::nil() : chan<unit>(o.queue_limit)),
          max_restarts(o.max_restarts),
          restart_period(o.restart_period),
          test_fault(o.test_fault),
          events_from_start(o.events_from_start) {}

    chan<submission> intake{intake_capacity};  // closed by the loop when a shutdown begins
    // The bounded queue's semaphore (nil: unbounded): a submitter puts a
    // token in before its job goes in; the loop takes one out when such a
    // job leaves the queue. Closed by the loop when a shutdown begins, so
    // blocked submitters fail then.
    chan<unit> slots;
    // Buffered: a worker never waits for the loop to take a report (see
    // invariant 4 for their order).
    chan<worker_registration> workers{intake_capacity};
    chan<status_report> status{intake_capacity};
    chan<control_msg> control;                  // unbuffered; closed by the loop as it ends
    chan<unit> stopped;                         // closed by the loop as it ends
    std::atomic<job_id> next_id{1};
    // Set at construction, read-only afterwards.
    const std::size_t max_restarts;
    const clock::duration restart_period;
    const std::function<void(worker_id, job_id, bool)> test_fault;
    const bool events_from_start;
    std::atomic<std::uint64_t> next_group{1};

    // Written by the loop before it closes `stopped`; read-only afterwards.
    std::unique_ptr<job_store> final_store;
    dispatcher_metrics final_metrics;
    chan<dispatcher_event> final_events = chan<dispatcher_event>::nil();
    std::unordered_map<std::uint64_t, std::exception_ptr> final_group_errors;  // groups not forgotten
};

/// The job the calling goroutine runs as a worker of `s`, if any (0: none).
struct job_scope {
    const dispatcher_state* s = nullptr;
    worker_id worker = 0;
    job_id job = 0;
};
/// The goroutine bodies (named types: they show in goroutine_dump()).
struct dispatcher_loop;
struct worker_loop {
    std::shared_ptr<dispatcher_state> s;
    worker_id id;
    chan<work_item> work;  // capacity 1: the loop's send never blocks
    chan<unit> quit;       // capacity 1: likewise
    void operator()();
    void serve(job_scope& scope);  // until told to quit; may throw (the worker died)
};

/// Starts the loop goroutine for a new dispatcher.
void start_loop(std::shared_ptr<dispatcher_state> s, std::unique_ptr<job_store> store, std::size_t workers);

job_scope current_job_scope(const dispatcher_state& s) noexcept;
void set_job_scope(job_scope* scope);

/// Sends a control message and waits for its reply; nullopt if the loop
/// has ended (the caller then reads final_store).
template <class Msg, class R>
std::optional<R> ask(dispatcher_state& s, Msg msg, const chan<R>& reply) {
    try {
        s.control.send(control_msg(std::move(msg)));
    } catch (const closed_channel_error&) {
        s.stopped.recv();  // closed right before control: final_store is set
        return std::nullopt;
    }
    return reply.recv();  // the loop always replies to a message it took
}

}  // namespace csp::detail
