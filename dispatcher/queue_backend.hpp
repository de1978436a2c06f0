// csp::queue_backend: where named tasks wait and where their records live
// when the queue must outlive the process (SQLite) or be shared by several
// processes (Redis Streams). A task_queue runs the tasks it claims from a
// backend on an in-process dispatcher; the backend only stores and hands out.
//
//   auto b = csp::open_backend("sqlite:jobs.db");          // or "memory",
//   csp::task_spec t{.type = "resize", .payload = R"({"w":64})"};   // "redis://127.0.0.1:6379/NAME"
//   csp::enqueue_result r = b->enqueue(t);                // r.id: the task's id in that queue
//
// Contract (every backend; tests/dispatcher/ check each one):
// 1. Every call may block (disk, network). None is ever made on a scheduler
//    thread: callers use a thread of their own or csp::blocking. Calls may
//    come from several threads at once.
// 2. Ids are unique within a queue (across processes and restarts), from 1 up.
// 3. At least once: a claimed task is `running` under this process's lease.
//    The lease is renewed by heartbeat(); a task whose lease expired (its
//    process died or hung past the visibility timeout) is claimable again,
//    its attempt counted, or becomes `failed` once out of attempts. A live
//    process that heartbeats never loses its task.
// 4. complete() stores the outcome before the delivery is acknowledged; an
//    outcome for a delivery that is no longer this process's (its lease was
//    lost and the task claimed again) is refused (false), never stored.
// 5. A task reaches exactly one final state in the store (job_state's last
//    four) and keeps its record there for status queries from any process.
// 6. Malformed data found in the store (an undecodable record or payload)
//    fails that task with a clear error; the other tasks go on.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <dispatcher/job.hpp>

namespace csp {

/// A task's id in its queue (SQLite rowid, Redis INCR counter).
using task_id = std::uint64_t;
/// Durable times cross processes and restarts: wall-clock time.
using wall_clock = std::chrono::system_clock;

/// What a submitter asks for.
struct task_spec {
    std::string type;     // the handler's name (task_queue::handle)
    std::string payload;  // JSON text, stored verbatim
    job_priority priority = job_priority::normal;
    unsigned max_attempts = 1;             // 1 + retries
    std::chrono::milliseconds timeout{0};  // per attempt; 0: none
    wall_clock::time_point not_before{};   // epoch: at once; otherwise `scheduled` until then
    std::string unique_key{};              // empty: none (see job_options::unique_key)
};

/// enqueue's answer: the new task, or (existed) the open task holding the
/// unique key.
struct enqueue_result {
    task_id id = 0;
    bool existed = false;
};

/// A task as the store keeps it: what status and list answer.
struct task_record {
    task_id id = 0;
    std::string type;
    std::string payload;
    job_state state = job_state::queued;
    job_priority priority = job_priority::normal;
    unsigned attempts = 0;  // deliveries so far (a reclaimed one counts)
    unsigned max_attempts = 1;
    std::chrono::milliseconds timeout{0};
    wall_clock::time_point submitted{}, started{}, finished{};
    wall_clock::time_point not_before{};  // scheduled / retrying: when it is queued again
    std::string result;                   // succeeded: JSON text
    std::string error;                    // final failure; while retrying, the last attempt's
    std::string owner;                    // running: the consumer that holds it
    bool cancel_requested = false;
};

/// One delivery of a task to this process.
struct claimed_task {
    task_id id = 0;
    std::string type;
    std::string payload;
    unsigned attempt = 1;  // 1-based, this delivery included
    unsigned max_attempts = 1;
    std::chrono::milliseconds timeout{0};
    std::string receipt;  // the backend's token for this delivery (stream entry id, lease token)
};

/// How a delivery ended.
struct task_outcome {
    job_state state = job_state::succeeded;  // succeeded, failed, cancelled or timed_out
    std::string result;                      // succeeded: JSON text
    std::string error;                       // otherwise: why
    /// failed / timed_out with attempts left: the task is `retrying` until
    /// then; nullopt: the state above is final.
    std::optional<wall_clock::time_point> retry_at{};
};

/// Counts by state across the whole queue (every process).
struct queue_stats {
    std::uint64_t queued = 0, scheduled = 0, running = 0, retrying = 0;
    std::uint64_t succeeded = 0, failed = 0, cancelled = 0, timed_out = 0;
    std::uint64_t dead_letters = 0;  // failed after the last attempt (Redis: the dead-letter stream)
};

class queue_backend {
public:
    virtual ~queue_backend() = default;

    /// Adds a task (queued, or scheduled if not_before is ahead).
    virtual enqueue_result enqueue(const task_spec& t) = 0;
    /// Up to n tasks for this process to run, waiting at most `wait` for the
    /// first (0: do not wait). Each is `running` under this process's lease
    /// with its attempt counted. Due scheduled and retrying tasks and tasks
    /// whose lease expired are claimable; a high-priority task goes before a
    /// normal one. interrupt() ends a wait early.
    virtual std::vector<claimed_task> claim(std::size_t n, std::chrono::milliseconds wait) = 0;
    /// Stores how a delivery ended (contract 4): false if the delivery is no
    /// longer this process's.
    virtual bool complete(const claimed_task& t, const task_outcome& o) = 0;
    /// complete() for several deliveries at once, answers in order: a
    /// backend that can stores them in one round trip / one transaction (a
    /// group commit). The default calls complete() for each.
    virtual std::vector<bool> complete_many(const std::vector<std::pair<claimed_task, task_outcome>>& done) {
        std::vector<bool> accepted;
        accepted.reserve(done.size());
        for (const auto& [t, o] : done) accepted.push_back(complete(t, o));
        return accepted;
    }
    /// Renews the leases of these running deliveries; returns the ids among
    /// them with a cancel request.
    virtual std::vector<task_id> heartbeat(const std::vector<claimed_task>& running) = 0;
    /// The task's record, or nullopt if the queue has no such task.
    virtual std::optional<task_record> find(task_id id) = 0;
    /// Up to `limit` records, newest first; only those in `state` if given.
    virtual std::vector<task_record> list(std::size_t limit, std::optional<job_state> state = std::nullopt) = 0;
    /// Queued, scheduled or retrying: cancelled at once. Running: the cancel
    /// is requested (heartbeat reports it, and a backend that can notify
    /// calls the cancel listener of the process running it). Final:
    /// already_final. nullopt: no such task.
    virtual std::optional<cancel_result> cancel(task_id id) = 0;
    virtual queue_stats stats() = 0;
    /// Calls f (on a thread of the backend) with the id of a task this
    /// process runs as soon as its cancel is requested, if the backend can
    /// notify (Redis publish/subscribe); otherwise heartbeat() reports it.
    virtual void set_cancel_listener(std::function<void(task_id)> f) { (void)f; }
    /// Ends a claim() waiting in another thread (it returns what it has).
    /// Sticky: with no claim waiting, it ends the next claim's wait instead
    /// (so a stop between a claimer's check and its claim is not lost;
    /// tests/dispatcher/backend_contract.hpp relies on it).
    virtual void interrupt() = 0;
};

/// Lease and redelivery settings shared by the durable backends.
struct backend_options {
    /// A running task whose lease was not renewed for this long is taken back
    /// (Redis: XAUTOCLAIM's min-idle). Keep it well above heartbeat_interval:
    /// a long task must never be taken from a live process.
    std::chrono::milliseconds visibility_timeout{30000};
    std::chrono::milliseconds heartbeat_interval{5000};
    /// Deliveries past this count fail the task (a task that kills its
    /// process every time does not circulate forever).
    unsigned max_deliveries = 10;
    /// SQLite: PRAGMA synchronous (NORMAL or FULL).
    bool sqlite_full_sync = false;
};

/// "memory" (this process only), "sqlite:PATH", or
/// "redis://HOST:PORT/NAME" (NAME: the queue; several processes share it).
/// Throws std::invalid_argument for an unknown scheme, std::runtime_error if
/// the store cannot be opened.
std::unique_ptr<queue_backend> open_backend(const std::string& url, const backend_options& o = {});

std::unique_ptr<queue_backend> make_memory_backend(const backend_options& o = {});
std::unique_ptr<queue_backend> make_sqlite_backend(const std::string& path, const backend_options& o = {});
std::unique_ptr<queue_backend> make_redis_backend(const std::string& host, int port, const std::string& queue,
                                                  const backend_options& o = {});

}  // namespace csp
