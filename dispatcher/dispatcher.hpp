// csp::dispatcher: an embedded job queue built on channels: workers
// register on a worker channel, take jobs from their work channel, report
// on a status channel and obey their quit channel.
//
//   csp::dispatcher d(4);                               // four workers
//   auto h = d.submit([] { return 6 * 7; });            // any callable
//   auto c = d.submit([](const csp::context& ctx) {     // cancellable
//       csp::select(csp::case_recv(ctx.done()), csp::case_recv(csp::after(1s)));
//   });
//   d.cancel(c.id());
//   std::printf("%d %s\n", h.get(), csp::to_string(d.info(c.id()).state));
//   d.shutdown();                                       // finish queued jobs, stop
//
// Design and invariants (after runtime/chan.go's habit: read these first).
//
// Goroutines. One loop goroutine (detail::dispatcher_loop) and one goroutine
// per worker (detail::worker_loop). Nothing else belongs to the dispatcher.
//
// Channels (dispatcher/internal/state.hpp):
//   intake   clients -> loop    submitted jobs (buffered); closed by the
//                               loop when a shutdown begins, so a later
//                               submit fails with dispatcher_errc::shut_down.
//   workers  worker -> loop     "I am idle, here is my work channel", sent
//                               every time a worker becomes idle (buffered).
//   work     loop -> a worker   one per worker, capacity 1: the job to run.
//   quit     loop -> a worker   one per worker, capacity 1: stop now.
//   status   worker -> loop     started / succeeded / failed / cancelled /
//                               timed_out / quit / died (buffered).
//   control  clients -> loop    queries and commands, each carrying its own
//                               reply channel (capacity 1).
//   stopped  loop -> all        closed when the loop has ended.
//   slots    clients -> loop    bounded queue only: a token per waiting job
//                               (see dispatcher_options::queue_limit).
//   events   loop -> readers    events(): sent through a send case of the
//                               loop's select, from a queue in the loop.
//   wake     timer -> loop      fires when the earliest scheduled or
//                               retrying job is due.
//
// 1. The job table (the job_store) and the worker table belong to the loop:
//    no other code reads or writes them while the loop runs. Every query or
//    command is a message to the loop. When the loop ends it hands the store
//    over to the shared state and closes `stopped`; from then on the store is
//    read-only, and queries read it directly. No mutex anywhere.
// 2. The loop never blocks except in its one select: its sends go to
//    channels with a free slot (a worker's work or quit channel is empty
//    whenever the loop sends on it; a reply channel has capacity 1). With a
//    backlog (every worker busy, jobs queued) it yields before the select
//    to let the workers report first, a few rounds at most, then selects.
// 3. A worker in the loop's idle list has an empty work channel and waits in
//    select over work and quit. The loop hands it exactly one of: a job (on
//    work) or a quit (on quit). So a worker never finds a job and a quit
//    together, and a quit never strands a job.
// 4. workers and status are buffered: a worker never waits for the loop to
//    take a report. A worker sends, in this order: started, its verdict (on
//    status, one FIFO: started comes first), then its next registration (on
//    workers, which may overtake status in the loop's select). So the loop,
//    given a registration from a worker whose job is still open, first
//    takes the reports buffered on status: the verdict is among them, as it
//    was sent first. The loop never sees a worker idle while its job is open.
// 5. Final states: only the loop makes a job final, once: it writes the
//    outcome into the job's core and then marks the core final
//    (job_core::finish: closes the `done` channel, which only a waiting
//    handle makes). Handles read the outcome only after seeing that. The worker
//    only proposes a verdict: a cancel the loop took before the verdict
//    arrived wins (the job ends cancelled whatever it returned); a job whose
//    context expired by its deadline before it returned ends timed_out.
// 6. Cancelling a running job cancels its context; a job handed to a worker
//    whose context is already done is not run (it ends cancelled or
//    timed_out without starting): a job cancelled while queued never runs.
// 7. The loop takes every submission already in the intake, and every
//    report already on status, before it answers a control message: a
//    client that submitted and then asks (a query, cancel, wait_all) is
//    answered with its job in the table, and one that saw its job run (the
//    worker reports started before it runs the job) is answered with it
//    running.
// 8. The loop ends only when a shutdown has begun, the intake is closed and
//    drained, and every worker has reported quit. So no worker ever sends
//    to a loop that is gone, and after `stopped` no goroutine of the
//    dispatcher remains but the loop's own return.
// 9. A wait from inside a job on another job of the same dispatcher (get(),
//    wait(), wait_all()) lends the loop a worker for the time it blocks: the
//    loop starts an extra worker and retires one when the wait ends. So
//    jobs waiting on jobs never deadlock the dispatcher, whatever the number
//    of workers.
// 10. Shutdown from inside one of the dispatcher's own jobs starts the
//    shutdown and returns without waiting (waiting would wait for itself).
// 11. Bounded queue: a submitter puts a token in `slots` before its job
//    enters the intake; the loop takes one out when such a job is handed to
//    a worker or made final. A job submitting into its own dispatcher puts
//    no token (it could wait for itself): it is admitted over the limit.
// 12. Unique keys: a job with a unique key comes to the loop as a control
//    message (its submitter needs the answer), not through the intake. The
//    loop's key map holds exactly the keys of open jobs: a key enters with
//    its job in take() and leaves in make_final(), before the job's core is
//    let go. A duplicate never enters the table; its slot token comes out.
// 13. Groups (job_group.hpp): the loop keeps each group's open count and
//    first error. A job joins its group in take() and leaves it in
//    make_final(), so a group wait (answered after the intake is drained,
//    invariant 7) counts every job submitted into the group before it. The
//    first job that does not succeed sets the group's error, once; with
//    cancel_on_error it then cancels the group's open jobs and every later
//    one on arrival.
// 14. Supervision: a worker's loop catches whatever escapes it and reports
//    `died` as its last message (so invariant 8 holds for dead workers too).
//    By invariant 4 the loop then knows the job it held: one it had not
//    reported started goes back to the queue (it never ran); one it had
//    is a failed attempt (retried per its options, else failed with
//    worker_died). The replacement is balance()'s, as for any missing
//    worker; past the restart intensity the loop shuts down now instead.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <chan/context.hpp>
#include <dispatcher/job.hpp>
#include <dispatcher/job_store.hpp>

namespace csp {

struct dispatcher_options {
    /// Workers started at once (more with add_workers()).
    std::size_t workers = 1;
    /// 0: unbounded. Otherwise at most this many submitted jobs wait for a
    /// worker (queued or scheduled; a job stops counting when a worker takes
    /// it); submit() blocks, try_submit() and submit_for() give up.
    /// The self-submission rule: a job submitting into its own dispatcher
    /// is never held back by the limit (it is admitted over it), so a full
    /// queue with every worker busy submitting cannot deadlock.
    std::size_t queue_limit = 0;
    /// Where jobs wait and their records live; null: make_memory_store().
    std::unique_ptr<job_store> store{};
    /// Supervision (OTP's restart intensity): a worker that dies (an
    /// exception escaping its loop, never a job's: those fail the job) is
    /// replaced, at most `max_restarts` times within any `restart_period`.
    /// One death more and the dispatcher gives up: it says so (event
    /// supervisor_gave_up, metrics().gave_up) and shuts down now, as an
    /// OTP supervisor exits, so every job still gets a final state.
    std::size_t max_restarts = 5;
    std::chrono::steady_clock::duration restart_period = std::chrono::seconds(10);
    /// The event channel (events()) from construction on, so no event is
    /// missed however late events() is first called; undelivered events
    /// wait in the loop meanwhile (memory grows if nobody reads). Off:
    /// events() reports what happens from its first call on.
    bool events_from_start = false;
    /// Tests only: called by a worker holding job `job`, right before it
    /// reports the start (`started` false) and right after the job returned
    /// (true). What it throws escapes the worker's loop: the worker dies.
    std::function<void(worker_id, job_id, bool started)> test_fault{};
};

/// How a worker quits or the dispatcher shuts down: `graceful` finishes the
/// running job(s) first (and, for shutdown, every queued job); `now`
/// cancels them (running jobs' contexts are cancelled; queued jobs end
/// cancelled without running) and still waits for running jobs to return.
enum class stop_mode : unsigned char { graceful, now };

/// A dispatcher's numbers at one moment: dispatcher::metrics().
struct dispatcher_metrics {
    std::size_t workers = 0;  // live, not told to quit
    std::size_t busy = 0;     // of those, with a job
    std::size_t idle = 0;     // of those, waiting for a job
    std::size_t queued = 0;   // waiting for a worker
    std::size_t waiting = 0;  // scheduled or retrying: waiting for a time
    std::size_t running = 0;  // handed to a worker, not final yet
    // Totals since the start.
    std::uint64_t submitted = 0, succeeded = 0, failed = 0, cancelled = 0, timed_out = 0;
    std::uint64_t retries = 0;         // runs that were retried
    std::uint64_t events_dropped = 0;  // events still undelivered when the dispatcher stopped
    double finished_per_second = 0;    // final jobs / time since the start
    /// Run time of the last (up to 4096) jobs that ran to a verdict.
    std::chrono::steady_clock::duration run_time_p50{}, run_time_p99{};
    // Supervision (dispatcher_options::max_restarts).
    std::uint64_t worker_deaths = 0, worker_restarts = 0;
    bool gave_up = false;  // past the restart intensity: the dispatcher shut down
};

/// One change the event channel reports (dispatcher::events()).
struct dispatcher_event {
    enum class kind : unsigned char {
        job,            // job `job` entered `state` (queued, scheduled, running, retrying, or final)
        worker_started, // worker `worker` started
        worker_quit,    // worker `worker` quit
        worker_died,    // worker `worker` died (`error`: what escaped its loop)
        supervisor_gave_up,  // past the restart intensity: shutting down now (`error`: why)
    };
    kind what = kind::job;
    job_id job = 0;
    worker_id worker = 0;  // job events: the job's worker, if it has had one
    job_state state = job_state::queued;
    std::chrono::steady_clock::time_point at{};
    std::string error;  // failed, retrying, cancelled, timed_out: why
};

namespace detail {
/// The group a submission joins (job_group); id 0: none.
struct group_ref {
    std::uint64_t id = 0;
    bool cancel_on_error = false;
};
}  // namespace detail

class job_group;

class dispatcher {
public:
    /// Starts the loop and `workers` workers.
    explicit dispatcher(std::size_t workers) : dispatcher(dispatcher_options{.workers = workers}) {}
    explicit dispatcher(dispatcher_options options);
    /// Shuts down now unless shut down already, then waits until stopped
    /// (so it must not run inside one of its own jobs: it would wait for it).
    ~dispatcher();
    dispatcher(const dispatcher&) = delete;
    dispatcher& operator=(const dispatcher&) = delete;

    /// Submits f: a callable taking nothing or `const csp::context&` (done
    /// when the job is cancelled or times out), returning a value or void.
    /// With a queue_limit, blocks while the queue is full (see
    /// dispatcher_options). Throws dispatcher_error(shut_down) once a
    /// shutdown has begun.
    ///
    ///   auto h = d.submit([](const csp::context& ctx) { return work(ctx); }, {.name = "w"});
    template <class F>
        requires detail::job_callable<F>
    auto submit(F&& f, job_options options = {}) {
        return *submit_with(std::forward<F>(f), std::move(options), nullptr, true);
    }
    /// submit() that gives up at once (nullopt) if the queue is full.
    template <class F>
        requires detail::job_callable<F>
    auto try_submit(F&& f, job_options options = {}) {
        return submit_with(std::forward<F>(f), std::move(options), nullptr, false);
    }
    /// submit() that waits at most d for room in the queue (nullopt then).
    template <class F, class Rep, class Period>
        requires detail::job_callable<F>
    auto submit_for(std::chrono::duration<Rep, Period> d, F&& f, job_options options = {}) {
        const auto deadline =
            std::chrono::steady_clock::now() + std::chrono::ceil<std::chrono::steady_clock::duration>(d);
        return submit_with(std::forward<F>(f), std::move(options), &deadline, true);
    }

    /// submit() with the job held `scheduled` until t / for d.
    ///
    ///   d.submit_after(5s, [] { remind(); });
    template <class F>
    auto submit_at(std::chrono::steady_clock::time_point t, F&& f, job_options options = {}) {
        options.not_before = t;
        return submit(std::forward<F>(f), std::move(options));
    }
    template <class F, class Rep, class Period>
    auto submit_after(std::chrono::duration<Rep, Period> d, F&& f, job_options options = {}) {
        return submit_at(std::chrono::steady_clock::now() + std::chrono::ceil<std::chrono::steady_clock::duration>(d),
                         std::forward<F>(f), std::move(options));
    }

    /// A snapshot of job `id`. Throws dispatcher_error(unknown_job).
    job_info info(job_id id) const;
    job_state status(job_id id) const { return info(id).state; }
    /// Cancels job `id` (see cancel_result). Throws dispatcher_error(unknown_job).
    cancel_result cancel(job_id id);

    /// Starts n more workers; returns their ids. Throws dispatcher_error(shut_down).
    std::vector<worker_id> add_workers(std::size_t n);
    /// Tells worker `id` to quit once idle (graceful) or after cancelling its
    /// job (now). Throws dispatcher_error(unknown_worker) if it is not live
    /// or already quitting.
    void quit_worker(worker_id id, stop_mode m = stop_mode::graceful);
    /// Tells every worker to quit; jobs wait queued until add_workers().
    /// Returns how many workers were told.
    std::size_t quit_all(stop_mode m = stop_mode::graceful);
    /// Live workers, not told to quit, in id order.
    std::vector<worker_id> workers() const;

    /// Blocks until no submitted job is queued or running (from inside a
    /// job: none but the caller's own).
    void wait_all();
    /// wait_all() for at most d; false if jobs were still open then.
    bool wait_all_for(std::chrono::steady_clock::duration d);

    /// Stops taking jobs, then: graceful runs every queued job, now cancels
    /// queued and running jobs; then every worker quits and the loop ends.
    /// Waits at most `timeout` for that; true if the dispatcher stopped in
    /// time. A graceful shutdown that times out is escalated to now (then
    /// false is returned without waiting further). From inside one of the
    /// dispatcher's own jobs it only starts the shutdown and returns false.
    /// Escalation: shutdown(now) while a graceful shutdown runs (another
    /// thread waits in it) turns it into a shutdown now and waits like it;
    /// both return true once stopped. Any other shutdown after the first
    /// throws dispatcher_error(shut_down).
    ///
    ///   std::thread t([&] { d.shutdown(); });      // graceful: drains the queue
    ///   if (impatient) d.shutdown(stop_mode::now);  // cancels the rest; t returns too
    bool shutdown(stop_mode m = stop_mode::graceful,
                  std::chrono::steady_clock::duration timeout = std::chrono::steady_clock::duration::max());
    /// The numbers now (asks the loop; after the stop, the last ones).
    dispatcher_metrics metrics() const;

    /// The event channel: every job state change and worker start / quit
    /// from the first events() call on (from the start with
    /// dispatcher_options::events_from_start), in the order the loop saw
    /// them. Range over it:
    ///
    ///   csp::go([ev = d.events()] { for (auto e : ev) log(e); });
    ///
    /// Delivery never slows the dispatcher (undelivered events wait in the
    /// loop). It closes when the dispatcher stops; events still undelivered
    /// then beyond its buffer (1024) are dropped and counted in metrics().
    /// Every call returns the same channel.
    recv_chan<dispatcher_event> events();

    /// True once the loop has ended (every worker gone).
    bool stopped() const;
    /// Blocks until stopped, at most d; true if stopped.
    bool wait_stopped_for(std::chrono::steady_clock::duration d) const;

private:
    friend class job_group;
    template <class F>
    auto submit_with(F&& f, job_options&& options, const std::chrono::steady_clock::time_point* deadline, bool block,
                     detail::group_ref group = {}) {
        using T = typename detail::job_result_of<std::decay_t<F>>::type;
        auto core = std::make_shared<detail::job_fn<T, std::decay_t<F>>>(std::forward<F>(f));
        std::optional<job_handle<T>> h;
        std::shared_ptr<detail::job_core> got = core;
        if (!submit_core(got, std::move(options), deadline, block, group)) return h;
        if (got == core) {
            h = job_handle<T>(state_, std::move(core));
        } else {  // the open job with the same unique key
            auto same = std::dynamic_pointer_cast<detail::job_result<T>>(std::move(got));
            if (!same) throw dispatcher_error(dispatcher_errc::key_conflict, "dispatcher: unique key taken by a job of another result type");
            h = job_handle<T>(state_, std::move(same));
        }
        return h;
    }
    /// False: no room in the queue in time. With a unique key taken, `core`
    /// comes back as the open job's core.
    bool submit_core(std::shared_ptr<detail::job_core>& core, job_options&& options,
                     const std::chrono::steady_clock::time_point* deadline, bool block, detail::group_ref group);
    std::shared_ptr<detail::dispatcher_state> state_;
};

}  // namespace csp
