// The SQLite queue backend: one file, one table of task records, shared by
// every process that opens the file.
//
// Invariants:
// 1. One connection per backend object, used only under `mu_`. Why not a
//    connection per thread: every call but find/list/stats writes, and
//    SQLite admits one writer per file at a time anyway, so more connections
//    in one process would only queue on the file lock (and spin through
//    busy_timeout) instead of on a mutex. Other processes have their own
//    connections; they meet ours on the file lock (BEGIN IMMEDIATE waits up
//    to busy_timeout).
// 2. WAL mode: readers never block the writer; synchronous NORMAL (a commit
//    may be lost on power failure, never on a process crash) or FULL.
// 3. Every change that reads before it writes runs in one BEGIN IMMEDIATE
//    transaction, so two processes never both take a task: claim() promotes
//    due tasks, takes back expired leases (attempt counted: queued again,
//    or final when out of attempts / deliveries, detail::lease_expired_to_store)
//    and takes up to n queued tasks with one UPDATE ... RETURNING.
// 4. A delivery is identified by its receipt (owner, id, attempt): complete()
//    and heartbeat() match it, so a delivery whose lease was taken back can
//    neither store its outcome nor renew the lease (contract 4).
// 5. Unique keys: a partial unique index on unique_key over open tasks; the
//    existing open task is looked up in the same transaction as the insert.
// 6. A row the claim cannot use (type or payload not text: damaged from
//    outside) is made failed with an error saying so; the others go on.
// 7. claim() waits on a condition variable, without the mutex: woken by
//    this process's enqueue / retry / interrupt (they bump local_changes_),
//    and every poll_interval to read PRAGMA data_version, which changes
//    when another connection (another process) committed. The claim
//    statement runs again only when one of them changed or the next due
//    time (a scheduled / retrying task, a lease) passed: an idle claimer
//    costs a shared-memory read per poll, and a task submitted elsewhere
//    starts within about a poll.
// 8. Opening waits for other processes opening the same file at once:
//    switching a fresh file to WAL and the first schema transaction can
//    get SQLITE_BUSY without SQLite's busy wait, so they are retried.
// 9. complete_many() stores a whole batch in one transaction: one commit
//    (one fsync with synchronous=FULL) for all of it.
#include <dispatcher/queue_backend.hpp>
#include <dispatcher/internal/backend_rules.hpp>
#include <dispatcher/sqlite/db.hpp>

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <random>

namespace csp {

namespace {

using detail::from_ms;
using detail::to_ms;
using sqlite::stmt;

// Invariant 7: how often a waiting claim asks whether another connection
// committed (PRAGMA data_version reads the WAL index in shared memory: no
// disk I/O, no lock).
constexpr auto poll_interval = std::chrono::milliseconds(1);
// Invariant 8: how long opening waits for other processes opening the file.
constexpr auto open_patience = std::chrono::milliseconds(10000);

const char* const schema = R"sql(
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: an id is never reused
    type TEXT,
    payload TEXT,
    state TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 1,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 1,
    timeout_ms INTEGER NOT NULL DEFAULT 0,
    submitted_ms INTEGER NOT NULL DEFAULT 0,
    started_ms INTEGER,
    finished_ms INTEGER,
    not_before_ms INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    error TEXT,
    owner TEXT,
    receipt TEXT,
    lease_until_ms INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    unique_key TEXT
);
CREATE INDEX IF NOT EXISTS tasks_ready ON tasks (state, priority DESC, id);
CREATE INDEX IF NOT EXISTS tasks_due ON tasks (state, not_before_ms);
CREATE INDEX IF NOT EXISTS tasks_lease ON tasks (state, lease_until_ms);
CREATE UNIQUE INDEX IF NOT EXISTS tasks_unique ON tasks (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('queued', 'scheduled', 'running', 'retrying');
)sql";

const char* const record_columns =
    "id, type, payload, state, priority, attempts, max_attempts, timeout_ms, submitted_ms, started_ms, "
    "finished_ms, not_before_ms, result, error, owner, cancel_requested";

std::string consumer_name() {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    std::random_device rd;
    return std::string(host) + ":" + std::to_string(getpid()) + ":" + std::to_string(rd() % 1000000);
}

class sqlite_backend final : public queue_backend {
public:
    sqlite_backend(const std::string& path, const backend_options& o)
        : opt_(o), db_(path), owner_(consumer_name()) {
        // Invariant 8: busy_timeout first, then every step of the opening
        // tried again while another process opening the file holds it.
        sqlite3_busy_timeout(db_.handle(), static_cast<int>(open_patience.count()));
        // A file that is no database fails here, with the path in the error.
        db_.exec_patiently("PRAGMA journal_mode = WAL", open_patience);
        db_.exec_patiently(o.sqlite_full_sync ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
                           open_patience);
        db_.exec_patiently(("BEGIN IMMEDIATE; " + std::string(schema) + " COMMIT;").c_str(), open_patience);
        prepare();
    }

    enqueue_result enqueue(const task_spec& t) override {
        std::unique_lock lk(mu_);
        const auto now = wall_clock::now();
        const bool later = t.not_before > now;
        const std::optional<std::string> key = t.unique_key.empty() ? std::nullopt : std::optional(t.unique_key);
        sqlite::transaction tx(db_);
        if (key) {
            if (find_open_key_->use(*key).step()) return {static_cast<task_id>(find_open_key_->i64(0)), true};
        }
        insert_->use(t.type, t.payload, later ? "scheduled" : "queued", static_cast<int>(t.priority),
                     std::max(1u, t.max_attempts), static_cast<std::int64_t>(t.timeout.count()), to_ms(now),
                     later ? detail::to_ms_ceil(t.not_before) : std::int64_t{0}, key);
        insert_->run();
        const auto id = static_cast<task_id>(sqlite3_last_insert_rowid(db_.handle()));
        tx.commit();
        ++local_changes_;
        lk.unlock();
        cv_.notify_all();
        return {id, false};
    }

    std::vector<claimed_task> claim(std::size_t n, std::chrono::milliseconds wait) override {
        std::unique_lock lk(mu_);
        const auto deadline = wall_clock::now() + wait;
        for (;;) {
            // Invariant 7: what the claim below has seen.
            const std::int64_t version = data_version();
            const std::uint64_t local = local_changes_;
            auto now = wall_clock::now();
            std::vector<claimed_task> out = claim_now(n, now);
            if (!out.empty() || n == 0 || now >= deadline) return out;
            if (interrupted_) {
                interrupted_ = false;
                return out;
            }
            const auto due = next_due();
            // Poll until something may have changed: another connection
            // committed, this process enqueued, a due time or the deadline.
            for (;;) {
                now = wall_clock::now();
                if (now >= deadline || now >= due) break;
                cv_.wait_until(lk, std::min({deadline, due, now + poll_interval}));
                if (interrupted_) {
                    interrupted_ = false;
                    return {};
                }
                if (local_changes_ != local || data_version() != version) break;
            }
        }
    }

    bool complete(const claimed_task& t, const task_outcome& o) override {
        return complete_many({{t, o}}).front();
    }

    std::vector<bool> complete_many(const std::vector<std::pair<claimed_task, task_outcome>>& done) override {
        std::vector<bool> accepted;
        accepted.reserve(done.size());
        if (done.empty()) return accepted;
        std::unique_lock lk(mu_);
        bool retry = false;
        const auto now = to_ms(wall_clock::now());
        sqlite::transaction tx(db_);  // invariant 9
        for (const auto& [t, o] : done) {
            const auto r = store_one(t, o, now);
            accepted.push_back(r.has_value());
            retry |= r.value_or(false);
        }
        tx.commit();
        if (retry) ++local_changes_;
        lk.unlock();
        if (retry) cv_.notify_all();
        return accepted;
    }

    std::vector<task_id> heartbeat(const std::vector<claimed_task>& running) override {
        std::vector<task_id> cancel;
        if (running.empty()) return cancel;
        std::lock_guard lk(mu_);
        const auto until = to_ms(wall_clock::now() + opt_.visibility_timeout);
        sqlite::transaction tx(db_);
        for (const claimed_task& t : running)
            if (renew_->use(until, static_cast<std::int64_t>(t.id), t.receipt).step() && renew_->i64(0) != 0)
                cancel.push_back(t.id);
        tx.commit();
        return cancel;
    }

    std::optional<task_record> find(task_id id) override {
        std::lock_guard lk(mu_);
        std::optional<task_record> r;
        if (find_->use(static_cast<std::int64_t>(id)).step()) r = decode(*find_);
        db_.settle();
        return r;
    }

    std::vector<task_record> list(std::size_t limit, std::optional<job_state> state) override {
        std::lock_guard lk(mu_);
        std::vector<task_record> out;
        const auto lim = static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX));
        stmt& s = state ? list_state_->use(to_string(*state), lim) : list_all_->use(lim);
        while (s.step()) out.push_back(decode(s));
        db_.settle();
        return out;
    }

    std::optional<cancel_result> cancel(task_id id) override {
        std::lock_guard lk(mu_);
        sqlite::transaction tx(db_);
        if (!cancel_probe_->use(static_cast<std::int64_t>(id)).step()) return std::nullopt;
        const auto state = detail::state_from_name(cancel_probe_->text(0));
        const bool requested = cancel_probe_->i64(1) != 0;
        cancel_result r;
        if (!state || is_final(*state)) {
            r = state == job_state::cancelled ? cancel_result::already_cancelled : cancel_result::already_final;
        } else if (*state == job_state::running) {
            r = requested ? cancel_result::already_cancelled : cancel_result::cancelling;
            if (!requested) request_cancel_->use(static_cast<std::int64_t>(id)).run();
        } else {
            cancel_waiting_->use(static_cast<std::int64_t>(id), to_ms(wall_clock::now())).run();
            r = cancel_result::cancelled;
        }
        tx.commit();
        return r;
    }

    queue_stats stats() override {
        std::lock_guard lk(mu_);
        queue_stats s;
        stats_->use();
        while (stats_->step()) {
            const auto n = static_cast<std::uint64_t>(stats_->i64(1));
            // A damaged state counts as failed, as decode() reports it.
            detail::count_state(s, detail::state_from_name(stats_->text(0)).value_or(job_state::failed), n);
        }
        db_.settle();
        s.dead_letters = s.failed;
        return s;
    }

    void interrupt() override {
        {
            std::lock_guard lk(mu_);
            interrupted_ = true;
        }
        cv_.notify_all();
    }

private:
    void prepare() {
        const std::string cols = record_columns;
        insert_.emplace(db_,
                        "INSERT INTO tasks (type, payload, state, priority, max_attempts, timeout_ms, submitted_ms, "
                        "not_before_ms, unique_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
        find_open_key_.emplace(db_,
                               "SELECT id FROM tasks WHERE unique_key = ?1 AND state IN ('queued', 'scheduled', "
                               "'running', 'retrying')");
        promote_.emplace(db_,
                         "UPDATE tasks SET state = 'queued' WHERE state IN ('scheduled', 'retrying') AND "
                         "not_before_ms <= ?1");
        expired_.emplace(db_,
                         "SELECT id, cancel_requested, attempts, max_attempts FROM tasks WHERE state = 'running' AND "
                         "lease_until_ms <= ?1");
        take_back_.emplace(db_,
                           "UPDATE tasks SET state = ?2, error = ?3, finished_ms = ?4, owner = NULL, receipt = NULL "
                           "WHERE id = ?1");
        // Invariant 3: the claim itself, one statement.
        claim_.emplace(db_,
                       "UPDATE tasks SET state = 'running', attempts = attempts + 1, started_ms = ?1, owner = ?2, "
                       "receipt = ?2 || '/' || id || '/' || (attempts + 1), lease_until_ms = ?3 "
                       "WHERE id IN (SELECT id FROM tasks WHERE state = 'queued' ORDER BY priority DESC, id LIMIT ?4) "
                       "RETURNING id, type, payload, attempts, max_attempts, timeout_ms, receipt, priority");
        damaged_.emplace(db_,
                         "UPDATE tasks SET state = 'failed', error = ?2, finished_ms = ?3, owner = NULL, receipt = NULL "
                         "WHERE id = ?1");
        next_due_.emplace(db_,
                          "SELECT min(t) FROM (SELECT min(not_before_ms) AS t FROM tasks WHERE state IN ('scheduled', "
                          "'retrying') UNION ALL SELECT min(lease_until_ms) FROM tasks WHERE state = 'running')");
        delivery_.emplace(db_,
                          "SELECT cancel_requested, attempts, max_attempts FROM tasks WHERE id = ?1 AND state = "
                          "'running' AND receipt = ?2");
        store_outcome_.emplace(db_,
                               "UPDATE tasks SET state = ?2, result = ?3, error = ?4, finished_ms = ?5, "
                               "not_before_ms = ?6, owner = NULL, receipt = NULL WHERE id = ?1");
        renew_.emplace(db_,
                       "UPDATE tasks SET lease_until_ms = ?1 WHERE id = ?2 AND state = 'running' AND receipt = ?3 "
                       "RETURNING cancel_requested");
        find_.emplace(db_, ("SELECT " + cols + " FROM tasks WHERE id = ?1").c_str());
        list_all_.emplace(db_, ("SELECT " + cols + " FROM tasks ORDER BY id DESC LIMIT ?1").c_str());
        list_state_.emplace(db_, ("SELECT " + cols + " FROM tasks WHERE state = ?1 ORDER BY id DESC LIMIT ?2").c_str());
        cancel_probe_.emplace(db_, "SELECT state, cancel_requested FROM tasks WHERE id = ?1");
        request_cancel_.emplace(db_, "UPDATE tasks SET cancel_requested = 1 WHERE id = ?1");
        cancel_waiting_.emplace(db_,
                                "UPDATE tasks SET state = 'cancelled', cancel_requested = 1, error = 'cancelled before "
                                "it ran', finished_ms = ?2 WHERE id = ?1");
        stats_.emplace(db_, "SELECT state, count(*) FROM tasks GROUP BY state");
        data_version_.emplace(db_, "PRAGMA data_version");
    }

    /// One delivery's outcome, inside complete_many's transaction:
    /// nullopt if the delivery is no longer ours, else whether it retries.
    std::optional<bool> store_one(const claimed_task& t, const task_outcome& o, std::int64_t now) {
        if (!delivery_->use(static_cast<std::int64_t>(t.id), t.receipt).step()) return std::nullopt;
        const bool cancel_requested = delivery_->i64(0) != 0;
        const auto attempts = static_cast<unsigned>(delivery_->i64(1));
        const auto max_attempts = static_cast<unsigned>(delivery_->i64(2));
        const detail::stored_outcome to = detail::outcome_to_store(o, cancel_requested, attempts, max_attempts);
        const bool ok = to.state == job_state::succeeded;
        store_outcome_->use(static_cast<std::int64_t>(t.id), to_string(to.state),
                            ok ? std::optional<std::string>(o.result) : std::nullopt,
                            ok ? std::nullopt : std::optional<std::string>(o.error),
                            to.retry ? std::nullopt : std::optional<std::int64_t>(now),
                            to.retry ? detail::to_ms_ceil(*o.retry_at) : std::int64_t{0});
        store_outcome_->run();
        return to.retry;
    }

    /// PRAGMA data_version: changes when another connection commits.
    std::int64_t data_version() {
        data_version_->use().step();
        const std::int64_t v = data_version_->i64(0);
        db_.settle();
        return v;
    }

    // Invariant 3, under mu_.
    std::vector<claimed_task> claim_now(std::size_t n, wall_clock::time_point now) {
        const auto now_ms = to_ms(now);
        sqlite::transaction tx(db_);
        promote_->use(now_ms).run();
        take_back_expired(now_ms);
        std::vector<claimed_task> out;
        std::vector<std::pair<int, std::size_t>> order;  // (priority, index in out)
        std::vector<task_id> damaged;
        if (n > 0) {
            claim_->use(now_ms, owner_, to_ms(now + opt_.visibility_timeout),
                        static_cast<std::int64_t>(std::min<std::size_t>(n, INT64_MAX)));
            while (claim_->step()) {
                const auto id = static_cast<task_id>(claim_->i64(0));
                if (!claim_->is_text(1) || !claim_->is_text(2)) {  // invariant 6
                    damaged.push_back(id);
                    continue;
                }
                claimed_task c;
                c.id = id;
                c.type = claim_->text(1);
                c.payload = claim_->text(2);
                c.attempt = static_cast<unsigned>(claim_->i64(3));
                c.max_attempts = static_cast<unsigned>(claim_->i64(4));
                c.timeout = std::chrono::milliseconds(claim_->i64(5));
                c.receipt = claim_->text(6);
                out.push_back(std::move(c));
                order.emplace_back(static_cast<int>(claim_->i64(7)), out.size() - 1);
            }
        }
        for (task_id id : damaged)
            damaged_->use(static_cast<std::int64_t>(id),
                          "damaged record in the store: its type or payload is not text", now_ms)
                .run();
        tx.commit();
        // RETURNING gives no order: deliver as the queue orders them.
        std::sort(order.begin(), order.end(), [&](const auto& a, const auto& b) {
            return a.first != b.first ? a.first > b.first : out[a.second].id < out[b.second].id;
        });
        std::vector<claimed_task> sorted;
        sorted.reserve(out.size());
        for (const auto& [p, i] : order) sorted.push_back(std::move(out[i]));
        return sorted;
    }

    void take_back_expired(std::int64_t now_ms) {
        struct lapsed {
            std::int64_t id;
            bool cancel_requested;
            unsigned attempts, max_attempts;
        };
        std::vector<lapsed> all;
        expired_->use(now_ms);
        while (expired_->step())
            all.push_back({expired_->i64(0), expired_->i64(1) != 0, static_cast<unsigned>(expired_->i64(2)),
                           static_cast<unsigned>(expired_->i64(3))});
        for (const lapsed& l : all) {
            const auto to =
                detail::lease_expired_to_store(l.cancel_requested, l.attempts, l.max_attempts, opt_.max_deliveries);
            take_back_->use(l.id, to_string(to.state), detail::lease_expired_error(to.state, l.attempts),
                            is_final(to.state) ? std::optional<std::int64_t>(now_ms) : std::nullopt)
                .run();
        }
    }

    wall_clock::time_point next_due() {
        auto t = wall_clock::time_point::max();
        if (next_due_->use().step() && !next_due_->is_null(0)) t = from_ms(next_due_->i64(0));
        db_.settle();
        return t;
    }

    static task_record decode(stmt& s) {
        task_record r;
        r.id = static_cast<task_id>(s.i64(0));
        r.type = s.text(1);
        r.payload = s.text(2);
        const auto state = detail::state_from_name(s.text(3));
        r.state = state.value_or(job_state::failed);
        const auto p = s.i64(4);
        r.priority = p <= 0 ? job_priority::low : p >= 2 ? job_priority::high : job_priority::normal;
        r.attempts = static_cast<unsigned>(s.i64(5));
        r.max_attempts = static_cast<unsigned>(s.i64(6));
        r.timeout = std::chrono::milliseconds(s.i64(7));
        r.submitted = from_ms(s.i64(8));
        if (!s.is_null(9)) r.started = from_ms(s.i64(9));
        if (!s.is_null(10)) r.finished = from_ms(s.i64(10));
        r.not_before = from_ms(s.i64(11));
        r.result = s.text(12);
        r.error = s.text(13);
        r.owner = s.text(14);
        r.cancel_requested = s.i64(15) != 0;
        if (!state) r.error = "damaged record in the store: unknown state '" + s.text(3) + "'";
        return r;
    }

    const backend_options opt_;
    sqlite::db db_;
    const std::string owner_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool interrupted_ = false;
    std::uint64_t local_changes_ = 0;  // invariant 7: bumped under mu_ by this process's enqueues and retries
    std::optional<stmt> data_version_, insert_, find_open_key_, promote_, expired_, take_back_, claim_, damaged_, next_due_, delivery_,
        store_outcome_, renew_, find_, list_all_, list_state_, cancel_probe_, request_cancel_, cancel_waiting_, stats_;
};

}  // namespace

std::unique_ptr<queue_backend> make_sqlite_backend(const std::string& path, const backend_options& o) {
    return std::make_unique<sqlite_backend>(path, o);
}

}  // namespace csp
