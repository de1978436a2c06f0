// csp::task_queue: named tasks with JSON payloads, kept in a queue_backend
// (memory, SQLite or Redis) and run by this process's workers on an
// in-process csp::dispatcher. Any process on the same store may submit,
// query and cancel; every process with handlers runs what it claims.
//
//   csp::task_queue q({.workers = 4, .backend = csp::open_backend("sqlite:jobs.db")});
//   q.handle("resize", [](const nlohmann::json& p, const csp::context& ctx) -> nlohmann::json {
//       return {{"w", p["w"].get<int>() / 2}};
//   });
//   csp::task_id id = q.submit("resize", {{"w", 64}}, {.retries = 3, .timeout = 2s});
//   q.wait_all();
//   std::optional<csp::task_record> r = q.status(id);   // r->state, r->result ("{\"w\":32}")
//   q.shutdown();
//
// At least once: a task may run again after its process died or lost its
// lease (queue_backend.hpp, contract 3), so handlers should be idempotent.
//
// Design:
// - A pump thread claims tasks only when workers are free (backpressure:
//   claim(free workers, claim_wait)), decodes them (handler, JSON payload),
//   and hands them to the coordinator goroutine.
// - The coordinator goroutine owns the table of running deliveries: it
//   submits each to the dispatcher, turns the dispatcher's events into
//   task events, heartbeats running deliveries every heartbeat_interval
//   (cancelling those the store reports), and hands each final verdict to
//   the store thread, which stores it (complete_many(): its whole backlog
//   in one call) before the final event goes out. Retries follow the
//   delivery's attempts and `backoff`.
// - No backend call is ever made on a scheduler thread: the pump and the
//   store thread are plain threads; every other call goes through
//   csp::blocking (inline on a plain thread, the blocking pool from a
//   goroutine).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <chan/chan.hpp>
#include <chan/context.hpp>
#include <dispatcher/dispatcher.hpp>
#include <dispatcher/queue_backend.hpp>

namespace csp {

/// A task's body: its payload, a context done when the task is cancelled,
/// times out or the queue shuts down now, and the delivery (attempt, id).
/// What it returns is the task's result; what it throws fails the attempt.
using task_handler =
    std::function<nlohmann::json(const nlohmann::json& payload, const context& ctx, const claimed_task& delivery)>;

/// Per-task options of task_queue::submit.
struct task_options {
    job_priority priority = job_priority::normal;
    /// A failed or timed-out attempt is retried this many times (state
    /// retrying in between, delayed by task_queue_options::backoff).
    unsigned retries = 0;
    std::chrono::milliseconds timeout{0};  // per attempt; 0: none
    std::chrono::milliseconds delay{0};    // scheduled until then
    std::string unique_key{};              // at most one open task with this key
};

/// A state change of a task this process runs (running, retrying, final),
/// or a worker change (what != job).
struct task_event {
    using kind = dispatcher_event::kind;
    kind what = kind::job;
    task_id id = 0;
    std::string type;
    job_state state = job_state::running;
    unsigned attempt = 0;
    worker_id worker = 0;  // the local dispatcher's worker
    std::string result;    // succeeded: JSON text
    std::string error;     // failed, retrying, cancelled, timed_out; worker_died, supervisor_gave_up
};

struct task_queue_options {
    std::size_t workers = 1;
    /// Where tasks wait and live; null: make_memory_backend().
    std::unique_ptr<queue_backend> backend{};
    /// How often running deliveries renew their leases (keep it well below
    /// the backend's visibility timeout).
    std::chrono::milliseconds heartbeat_interval{5000};
    /// Claimed tasks the process may hold per worker beyond the one it runs
    /// (Celery's prefetch). With 1, a worker that finishes finds its next
    /// task in hand: the claim's round trip overlaps the work, and claims
    /// come in larger batches (no-op tasks on Redis: ~40k jobs/s against
    /// ~30k with 0). The price: a task in hand is `running` in the store (it
    /// is claimed, its lease renewed) though it has not started, a cancel
    /// answers `cancelling` for it, and it waits behind another task here
    /// while a worker elsewhere may be free. So 0, the default, for long
    /// tasks shared by several processes; 1 or more for many short ones.
    std::size_t prefetch = 0;
    /// The longest one claim waits (the pump checks for a stop in between).
    std::chrono::milliseconds claim_wait{250};
    /// The delay before the retry-th retry of a delivered task (its payload
    /// may say how long); null: sidekiq_backoff(retry).
    std::function<std::chrono::steady_clock::duration(const claimed_task& t, unsigned retry)> backoff{};
    /// The event channel from construction on (else from events()'s first call).
    bool events_from_start = false;
    /// Payloads nested deeper than this fail their task (stack safety).
    int max_payload_depth = 128;
    /// Handlers in place before the first claim (handle() adds more later;
    /// a task claimed before its type has a handler fails). A process that
    /// restarts on a durable store should pass them here.
    std::map<std::string, task_handler> handlers{};
};

/// task_queue's own numbers (the store's are in stats()).
struct task_queue_metrics {
    dispatcher_metrics local;        // the in-process dispatcher (workers, run times)
    std::uint64_t claimed = 0;       // deliveries taken from the store
    std::uint64_t completed = 0;     // outcomes stored
    std::uint64_t retries = 0;       // attempts that ended retrying
    std::uint64_t refused = 0;       // outcomes the store refused (the lease had been lost)
    std::uint64_t undeliverable = 0; // failed without running: no handler, bad payload
    std::uint64_t events_dropped = 0;
};

class task_queue {
public:
    explicit task_queue(task_queue_options o = {});
    /// Shuts down now unless shut down already, and waits until stopped.
    ~task_queue();
    task_queue(const task_queue&) = delete;
    task_queue& operator=(const task_queue&) = delete;

    /// Registers the handler of task type `type` (replacing any). Tasks of a
    /// type with no handler here fail ("no handler for task type ..."): the
    /// queue claims from its construction on, so on a store that may hold
    /// tasks already, give the handlers in task_queue_options::handlers.
    void handle(const std::string& type, task_handler h);
    void handle(const std::string& type, std::function<nlohmann::json(const nlohmann::json&, const context&)> h);

    /// Adds a task; returns its id (with a unique key held by an open task:
    /// that task's id). Throws dispatcher_error(shut_down) once a shutdown began.
    task_id submit(const std::string& type, const nlohmann::json& payload, const task_options& o = {});
    /// submit() with the payload as JSON text (stored verbatim) and the
    /// store's full answer (existed: the unique key's open task).
    enqueue_result submit_text(const std::string& type, const std::string& payload, const task_options& o = {});

    /// The task's record in the store (any process's task); nullopt: none.
    std::optional<task_record> status(task_id id);
    /// Cancels a task: waiting ones at once; a running one is cancelled by
    /// the process running it (here at once; elsewhere at its next
    /// heartbeat or notification). nullopt: no such task.
    std::optional<cancel_result> cancel(task_id id);
    std::vector<task_record> list(std::size_t limit = 1000, std::optional<job_state> state = std::nullopt);
    queue_stats stats();
    task_queue_metrics metrics() const;

    /// Workers of the local dispatcher (see dispatcher).
    std::vector<worker_id> add_workers(std::size_t n);
    void quit_worker(worker_id id, stop_mode m = stop_mode::graceful);
    std::vector<worker_id> workers() const;

    /// Every task event from the first call on (or from the start); closes
    /// when the queue has stopped. Undelivered events wait in the queue.
    recv_chan<task_event> events();

    /// Blocks until the store holds no open task (queued, scheduled,
    /// running, retrying): it checks after each local completion and at
    /// least every 20 ms. False if `d` passed first.
    void wait_all();
    bool wait_all_for(std::chrono::steady_clock::duration d);

    /// Stops claiming; graceful: the running tasks finish; now: they are
    /// cancelled (and stored cancelled). Then the workers quit. Waits until
    /// stopped (so never from inside a handler: it would wait for itself).
    /// A second call escalates graceful to now, else returns. Tasks still
    /// waiting in the store stay there for the next process.
    void shutdown(stop_mode m = stop_mode::graceful);
    bool stopped() const;

    queue_backend& backend();

    struct state;

private:
    std::shared_ptr<state> s_;
};

}  // namespace csp
