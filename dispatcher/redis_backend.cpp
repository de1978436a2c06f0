// The Redis Streams queue backend: several processes (on several machines)
// share one queue. Each process is a consumer of the group "workers" on one
// stream per priority; a task's record is a hash; every state change is one
// Lua script (dispatcher/redis/scripts.cpp has the keys and the scripts).
//
//   auto b = csp::make_redis_backend("127.0.0.1", 6379, "images");
//   auto r = b->enqueue({.type = "resize", .payload = R"({"w":64})"});
//   for (auto& t : b->claim(8, 1s)) b->complete(t, {.state = csp::job_state::succeeded, .result = "{}"});
//
// Threads and connections (contract 1: every call blocks its caller's
// thread, never a scheduler thread):
// - commands and scripts: a small pool of connections, each behind a mutex,
//   so callers on several threads do not queue behind one socket;
// - claim(): one connection of its own for XREADGROUP ... BLOCK (a blocked
//   read holds its connection), claims serialized by claim_m_;
// - cancel notifications: a thread of its own, SUBSCRIBEd, started by
//   set_cancel_listener().
// Redis away: each connection reconnects with backoff; meanwhile calls throw
// std::runtime_error naming the server. Accepted tasks survive a restart if
// the server runs with appendonly yes, appendfsync always.
#include <dispatcher/internal/backend_rules.hpp>
#include <dispatcher/queue_backend.hpp>
#include <dispatcher/redis/connection.hpp>
#include <dispatcher/redis/record_codec.hpp>
#include <dispatcher/redis/scripts.hpp>

#include <hiredis/hiredis.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <thread>

namespace csp {

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr std::size_t pool_size = 4;
constexpr std::chrono::milliseconds io_timeout = 5s;
constexpr std::chrono::milliseconds push_wait = 200ms;  // the subscriber's stop check
constexpr long unique_ttl_s = 7L * 24 * 3600;           // a leaked unique key expires after a week
const std::array<const char*, 3> read_order{"high", "normal", "low"};

std::string ms_text(std::int64_t ms) { return std::to_string(ms); }
std::string now_ms() { return ms_text(detail::to_ms(wall_clock::now())); }

// host:pid:random -- unique among the processes sharing a queue, also
// across restarts (a new process never inherits a dead one's entries by name).
std::string consumer_name() {
    char host[256] = "host";
    ::gethostname(host, sizeof host - 1);
    std::random_device rd;
    char rnd[17];
    std::snprintf(rnd, sizeof rnd, "%08x%08x", rd(), rd());
    return std::string(host) + ":" + std::to_string(::getpid()) + ":" + rnd;
}

class redis_backend final : public queue_backend {
public:
    redis_backend(const std::string& host, int port, const std::string& queue, const backend_options& o)
        : host_(host),
          port_(port),
          prefix_("csp:{" + queue + "}:"),
          opts_(o),
          consumer_(consumer_name()),
          block_(host, port, io_timeout, reached_) {
        for (std::size_t i = 0; i < pool_size; ++i) pool_.push_back(std::make_unique<slot>(host, port, reached_));
        reclaim_every_ = std::max<std::chrono::milliseconds>(opts_.visibility_timeout / 4, 10ms);
        try {
            auto& c = pool_[0]->conn;
            std::lock_guard lk(pool_[0]->m);
            create_groups(c);
            load_library(c);
            for (const redis::script* s : redis::all_scripts()) function_[s] = redis::function_name(*s);
        } catch (const std::exception& e) {
            throw std::runtime_error(std::string("make_redis_backend: ") + e.what());
        }
    }

    ~redis_backend() override {
        {
            std::lock_guard lk(sub_m_);
            stop_ = true;
        }
        sub_cv_.notify_all();
        if (sub_.joinable()) sub_.join();
    }

    enqueue_result enqueue(const task_spec& t) override {
        auto nb = t.not_before == wall_clock::time_point{} ? 0 : detail::to_ms_ceil(t.not_before);
        auto r = run(redis::enqueue_script(),
                     {redis::encode_spec(t.type, t.timeout, t.payload), redis::priority_name(t.priority),
                      std::to_string(std::max(1u, t.max_attempts)), ms_text(nb), now_ms(), t.unique_key,
                      std::to_string(unique_ttl_s)});
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) throw std::runtime_error("redis backend: bad enqueue reply");
        return {static_cast<task_id>(redis::integer(r->element[0])), redis::integer(r->element[1]) == 1};
    }

    std::vector<claimed_task> claim(std::size_t n, std::chrono::milliseconds wait) override {
        std::vector<claimed_task> out;
        if (n == 0) return out;
        std::lock_guard lk(claim_m_);
        take_prefetched(out, n);
        auto deadline = steady::now() + wait;
        for (;;) {
            if (out.size() >= n) return out;
            auto next_due = claim_ready(out, n);
            if (!out.empty() || interrupted_.exchange(false)) return out;
            auto now = steady::now();
            if (now >= deadline) return out;
            // Block until a new entry, but no longer than until a scheduled
            // task is due or the next reclaim pass.
            auto until = std::min({deadline, next_reclaim_, next_due});
            auto block = std::max<std::chrono::milliseconds>(
                std::chrono::duration_cast<std::chrono::milliseconds>(until - now), 1ms);
            read_blocking(out, n, block);
            if (interrupted_.exchange(false)) return out;
        }
    }

    // Concurrent completes of this process share one script call (a group
    // commit): the first caller to find no call in flight sends every
    // outcome waiting then; the others wait for its answer. One outcome
    // alone goes at once.
    bool complete(const claimed_task& t, const task_outcome& o) override {
        std::vector<completion> mine(1);
        mine[0].args = completion_args(t, o);
        commit(mine);
        if (mine[0].error) std::rethrow_exception(mine[0].error);
        return mine[0].stored;
    }

    // The same group commit for a whole batch: one script call per 256.
    // If a call fails, its error is thrown (after every call was made).
    std::vector<bool> complete_many(const std::vector<std::pair<claimed_task, task_outcome>>& done) override {
        std::vector<completion> mine(done.size());
        for (std::size_t i = 0; i < done.size(); ++i) mine[i].args = completion_args(done[i].first, done[i].second);
        commit(mine);
        std::vector<bool> accepted;
        accepted.reserve(mine.size());
        for (const completion& c : mine) {
            if (c.error) std::rethrow_exception(c.error);
            accepted.push_back(c.stored);
        }
        return accepted;
    }

    std::vector<task_id> heartbeat(const std::vector<claimed_task>& running) override {
        std::vector<std::string> args{consumer_};
        for (const auto& t : running) {
            args.push_back(std::to_string(t.id));
            args.push_back(t.receipt);
        }
        {
            // Prefetched deliveries are this process's as well: keep them.
            std::lock_guard lk(prefetched_m_);
            for (const auto& t : prefetched_) {
                args.push_back(std::to_string(t.id));
                args.push_back(t.receipt);
            }
        }
        std::vector<task_id> cancels;
        if (args.size() == 1) return cancels;
        auto r = run(redis::heartbeat_script(), args);
        for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; ++i) {
            auto id = static_cast<task_id>(redis::integer(r->element[i]));
            for (const auto& t : running)
                if (t.id == id) cancels.push_back(id);
        }
        return cancels;
    }

    std::optional<task_record> find(task_id id) override {
        auto r = command({"HGETALL", prefix_ + "t:" + std::to_string(id)});
        if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) return std::nullopt;
        return redis::decode_record(id, r.get());
    }

    std::vector<task_record> list(std::size_t limit, std::optional<job_state> state) override {
        std::vector<task_record> out;
        if (limit == 0) return out;
        auto r = run(redis::list_script(), {std::to_string(limit), state ? to_string(*state) : ""});
        for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; ++i) {
            const redisReply* e = r->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2) continue;
            out.push_back(redis::decode_record(static_cast<task_id>(redis::integer(e->element[0])), e->element[1]));
        }
        return out;
    }

    std::optional<cancel_result> cancel(task_id id) override {
        auto r = run(redis::cancel_script(), {std::to_string(id), now_ms()});
        std::string s = redis::text(r.get());
        if (s == "cancelled") return cancel_result::cancelled;
        if (s == "cancelling") return cancel_result::cancelling;
        if (s == "already_cancelled") return cancel_result::already_cancelled;
        if (s == "already_final") return cancel_result::already_final;
        return std::nullopt;
    }

    queue_stats stats() override {
        auto counts = command({"HGETALL", prefix_ + "counts"});
        auto dlq = command({"XLEN", prefix_ + "dlq"});
        queue_stats q;
        for (size_t i = 0; counts->type == REDIS_REPLY_ARRAY && i + 1 < counts->elements; i += 2) {
            auto st = detail::state_from_name(redis::text(counts->element[i]));
            auto v = static_cast<std::uint64_t>(std::max<std::int64_t>(0, redis::integer(counts->element[i + 1])));
            if (st) detail::count_state(q, *st, v);
        }
        q.dead_letters = static_cast<std::uint64_t>(redis::integer(dlq.get()));
        return q;
    }

    void set_cancel_listener(std::function<void(task_id)> f) override {
        std::unique_lock lk(sub_m_);
        listener_ = std::move(f);
        if (sub_.joinable() || !listener_) return;
        sub_ = std::thread([this] { subscribe_loop(); });
        // A message published before SUBSCRIBE is lost: return once the
        // subscription stands (or its first attempt failed: heartbeat() still
        // reports cancels), so a cancel after this call reaches the listener.
        sub_cv_.wait_for(lk, io_timeout, [&] { return sub_tried_; });
    }

    void interrupt() override {
        interrupted_ = true;
        // A claim may be blocked in XREADGROUP on the server: unblock it.
        // Its command may not have reached the server yet (CLIENT UNBLOCK
        // answers 0 then): try again until it did or the claim returned.
        for (int tries = 0; blocking_.load() && tries < 1000; ++tries) {
            try {
                auto r = command({"CLIENT", "UNBLOCK", std::to_string(block_client_id_.load())});
                if (redis::integer(r.get()) == 1) return;
            } catch (const std::exception&) {
                return;  // the server is away: the blocked read fails by itself
            }
            std::this_thread::sleep_for(1ms);
        }
    }

private:
    struct slot {
        slot(const std::string& host, int port, std::shared_ptr<std::atomic<std::uint64_t>> reached)
            : conn(host, port, io_timeout, std::move(reached)) {}
        std::mutex m;
        redis::connection conn;
    };

    // REPLACE: loading the same library again (another process of this
    // version, or this one after a restart) is not an error.
    static void load_library(redis::connection& c) { c.command({"FUNCTION", "LOAD", "REPLACE", redis::library_text()}); }

    // A free pooled connection if there is one, else the next in turn.
    template <class F>
    auto with_connection(F&& f) {
        std::size_t start = next_slot_.fetch_add(1, std::memory_order_relaxed);
        for (std::size_t i = 0; i < pool_.size(); ++i) {
            slot& s = *pool_[(start + i) % pool_.size()];
            std::unique_lock lk(s.m, std::try_to_lock);
            if (lk.owns_lock()) return f(s.conn);
        }
        slot& s = *pool_[start % pool_.size()];
        std::lock_guard lk(s.m);
        return f(s.conn);
    }

    redis::reply command(const std::vector<std::string>& argv) {
        return with_connection([&](redis::connection& c) { return c.command(argv); });
    }

    void create_groups(redis::connection& c) {
        for (const char* prio : read_order) {
            try {
                c.command({"XGROUP", "CREATE", prefix_ + "s:" + prio, "workers", "0", "MKSTREAM"});
            } catch (const redis::server_error& e) {
                if (std::string(e.what()).find("BUSYGROUP") == std::string::npos) throw;
            }
        }
    }

    static bool mentions(const std::exception& e, const char* what) {
        return std::string(e.what()).find(what) != std::string::npos;
    }

    // FCALL, loading the library again once the server forgot it (a restart
    // without persistence, FUNCTION FLUSH) and re-creating the groups if
    // they are gone (keys flushed).
    redis::reply run(const redis::script& s, const std::vector<std::string>& args) {
        std::vector<std::string> argv{"FCALL", function_.at(&s), "0", prefix_};
        argv.insert(argv.end(), args.begin(), args.end());
        return with_connection([&](redis::connection& c) {
            for (int attempt = 0;; ++attempt) {
                try {
                    return c.command(argv);
                } catch (const redis::server_error& e) {
                    if (attempt == 0 && mentions(e, "Function not found")) {
                        load_library(c);
                    } else if (attempt == 0 && mentions(e, "NOGROUP")) {
                        create_groups(c);
                    } else {
                        throw;
                    }
                }
            }
        });
    }

    struct completion {
        std::vector<std::string> args;  // the complete script's six per delivery
        bool done = false, stored = false;
        std::exception_ptr error;
    };

    static std::vector<std::string> completion_args(const claimed_task& t, const task_outcome& o) {
        if (!is_final(o.state)) throw std::invalid_argument("complete: not a final state");
        return {std::to_string(t.id), t.receipt, to_string(o.state), o.result, o.error,
                o.retry_at ? ms_text(detail::to_ms_ceil(*o.retry_at)) : std::string()};
    }

    // Queues `mine` for the group commit and returns once each is done.
    // Why the last one tells: batches leave waiting_ from the front, one
    // call at a time, so when the last of `mine` is done, all of it is.
    void commit(std::vector<completion>& mine) {
        if (mine.empty()) return;
        std::unique_lock lk(complete_m_);
        for (completion& c : mine) waiting_.push_back(&c);
        while (!mine.back().done) {
            if (completing_) {
                complete_cv_.wait(lk);
                continue;
            }
            completing_ = true;
            std::vector<completion*> batch;
            while (!waiting_.empty() && batch.size() < max_batch) {
                batch.push_back(waiting_.front());
                waiting_.pop_front();
            }
            lk.unlock();
            send_completions(batch);
            lk.lock();
            for (auto* b : batch) b->done = true;
            completing_ = false;
            complete_cv_.notify_all();
        }
    }

    // One complete script call for a batch; each gets its answer or the error.
    // Every trim_every_acks acknowledgements or trim_every, the call also
    // trims the streams (scripts.cpp, trim()).
    void send_completions(const std::vector<completion*>& batch) {
        auto now = steady::now();
        acks_since_trim_ += batch.size();
        bool trim = acks_since_trim_ >= trim_every_acks || now - last_trim_ >= trim_every;
        if (trim) {
            acks_since_trim_ = 0;
            last_trim_ = now;
        }
        std::vector<std::string> args{consumer_, now_ms(), trim ? "1" : "0"};
        for (auto* c : batch) args.insert(args.end(), c->args.begin(), c->args.end());
        try {
            auto r = run(redis::complete_script(), args);
            if (r->type != REDIS_REPLY_ARRAY || r->elements != batch.size())
                throw std::runtime_error("redis backend: bad complete reply");
            for (std::size_t i = 0; i < batch.size(); ++i) batch[i]->stored = redis::integer(r->element[i]) == 1;
        } catch (...) {
            for (auto* c : batch) c->error = std::current_exception();
        }
    }

    void take_prefetched(std::vector<claimed_task>& out, std::size_t n) {
        std::lock_guard lk(prefetched_m_);
        while (out.size() < n && !prefetched_.empty()) {
            out.push_back(std::move(prefetched_.front()));
            prefetched_.pop_front();
        }
    }

    // Deliveries beyond n go to prefetched_ (they are this consumer's
    // already: heartbeat keeps them, the next claim hands them out). One
    // whose spec is malformed or whose payload is not JSON fails at once
    // (contract 6) and is not handed out; the claim script leaves those
    // checks to this side.
    void add_deliveries(std::vector<claimed_task>& out, std::size_t n, const redisReply* list) {
        std::vector<completion> corrupted;
        for (size_t i = 0; list && list->type == REDIS_REPLY_ARRAY && i < list->elements; ++i) {
            std::string why;
            auto t = redis::decode_delivery(list->element[i], why);
            if (!why.empty()) {
                task_outcome o;
                o.state = job_state::failed;
                o.error = "corrupted task in Redis: " + why;
                corrupted.emplace_back().args = completion_args(t, o);
            } else if (out.size() < n) {
                out.push_back(std::move(t));
            } else {
                std::lock_guard lk(prefetched_m_);
                prefetched_.push_back(std::move(t));
            }
        }
        // If storing the failure fails (the server went away), the entry
        // stays pending: it is reclaimed once its lease expires, and fails then.
        commit(corrupted);
    }

    // One pass of the claim script (no waiting); returns when the earliest
    // scheduled or retrying task is due (far ahead if none).
    steady::time_point claim_ready(std::vector<claimed_task>& out, std::size_t n) {
        auto now = steady::now();
        bool reclaim = now >= next_reclaim_;
        if (reclaim) next_reclaim_ = now + reclaim_every_;
        auto r = run(redis::claim_script(),
                     {consumer_, now_ms(), std::to_string(n - out.size()), std::to_string(opts_.max_deliveries),
                      reclaim ? "1" : "0", ms_text(opts_.visibility_timeout.count()), cursors_[0], cursors_[1],
                      cursors_[2]});
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) throw std::runtime_error("redis backend: bad claim reply");
        add_deliveries(out, n, r->element[0]);
        for (size_t i = 0; i < 3 && i < r->element[1]->elements; ++i) cursors_[i] = redis::text(r->element[1]->element[i]);
        auto due = redis::integer(r->element[2], -1);
        if (due < 0) return steady::time_point::max();
        auto ahead = std::chrono::milliseconds(std::max<std::int64_t>(0, due - detail::to_ms(wall_clock::now())));
        return steady::now() + ahead;
    }

    // XREADGROUP ... BLOCK on the blocking connection, then the deliver
    // script for what it returned.
    void read_blocking(std::vector<claimed_task>& out, std::size_t n, std::chrono::milliseconds block) {
        std::vector<std::string> argv{"XREADGROUP", "GROUP", "workers", consumer_, "COUNT", std::to_string(n - out.size()),
                                      "BLOCK", ms_text(block.count()), "STREAMS"};
        for (const char* prio : read_order) argv.push_back(prefix_ + "s:" + prio);
        for (std::size_t i = 0; i < read_order.size(); ++i) argv.push_back(">");
        block_.ensure();
        block_client_id_ = block_.client_id();
        // Why before the check: interrupt() sees either the flag cleared here
        // or blocking_ set, and then unblocks the read.
        blocking_ = true;
        if (interrupted_.load()) {
            blocking_ = false;
            return;
        }
        redis::reply r;
        try {
            block_.send(argv);
            r = block_.next_push(block + 2ms);
            if (!r) {
                // Redis ends a blocked read late: at its event loop's next
                // wake-up, up to 1/hz (100 ms) after the BLOCK time when it
                // is idle. End it on time: claim(n, wait) waits `wait`, and
                // a caller that heartbeats between claims relies on that.
                command({"CLIENT", "UNBLOCK", std::to_string(block_client_id_.load())});
                r = block_.next_push(io_timeout);
                if (!r) throw std::runtime_error(block_.name() + ": no answer to XREADGROUP");
            }
        } catch (const redis::server_error& e) {
            blocking_ = false;
            if (!mentions(e, "NOGROUP")) throw;
            with_connection([&](redis::connection& c) { create_groups(c); });
            return;
        } catch (...) {
            blocking_ = false;
            block_.drop();  // its reply may still come: never read it as the next one's
            throw;
        }
        blocking_ = false;
        if (!r || r->type != REDIS_REPLY_ARRAY) return;  // timed out or unblocked
        std::vector<std::string> args{consumer_, now_ms(), std::to_string(opts_.max_deliveries)};
        for (size_t i = 0; i < r->elements; ++i) {
            const redisReply* st = r->element[i];  // [stream key, [[entry id, fields], ...]]
            if (st->type != REDIS_REPLY_ARRAY || st->elements != 2) continue;
            std::string key = redis::text(st->element[0]);
            std::string prio = key.substr(key.rfind(':') + 1);
            for (size_t j = 0; j < st->element[1]->elements; ++j) {
                const redisReply* e = st->element[1]->element[j];  // [entry id, [field, value, ...]]
                if (e->type != REDIS_REPLY_ARRAY || e->elements != 2) continue;
                args.push_back(prio);
                args.push_back(redis::text(e->element[0]));
                args.push_back(entry_task(e->element[1]));
            }
        }
        if (args.size() == 3) return;
        auto d = run(redis::deliver_script(), args);
        add_deliveries(out, n, d.get());
    }

    // The task id a stream entry's fields {"id", <id>} name ("" if none).
    static std::string entry_task(const redisReply* fields) {
        for (size_t i = 0; fields && fields->type == REDIS_REPLY_ARRAY && i + 1 < fields->elements; i += 2)
            if (redis::text(fields->element[i]) == "id") return redis::text(fields->element[i + 1]);
        return {};
    }

    void tried() {
        {
            std::lock_guard lk(sub_m_);
            sub_tried_ = true;
        }
        sub_cv_.notify_all();
    }

    // The subscriber thread: forwards cancel requests meant for this
    // consumer to the listener; re-subscribes after a reconnect (messages
    // published meanwhile are lost: heartbeat() reports those).
    void subscribe_loop() {
        redis::connection c(host_, port_, io_timeout);
        std::string channel = prefix_ + "cancel";
        std::uint64_t subscribed = 0;
        auto backoff = 20ms;
        for (;;) {
            {
                std::unique_lock lk(sub_m_);
                if (stop_) return;
            }
            try {
                c.ensure();
                if (c.generation() != subscribed) {
                    c.command({"SUBSCRIBE", channel});
                    subscribed = c.generation();
                    tried();
                }
                backoff = 20ms;
                auto m = c.next_push(push_wait);
                if (!m || m->type != REDIS_REPLY_ARRAY || m->elements != 3 || redis::text(m->element[0]) != "message")
                    continue;
                std::string body = redis::text(m->element[2]);  // "<id> <consumer>"
                auto space = body.find(' ');
                if (space == std::string::npos || body.substr(space + 1) != consumer_) continue;
                auto id = static_cast<task_id>(std::strtoull(body.c_str(), nullptr, 10));
                std::function<void(task_id)> f;
                {
                    std::lock_guard lk(sub_m_);
                    f = listener_;
                }
                if (f && id) f(id);
            } catch (const std::exception&) {
                tried();
                // The server is away: wait (woken early by the destructor).
                std::unique_lock lk(sub_m_);
                sub_cv_.wait_for(lk, backoff, [&] { return stop_; });
                backoff = std::min<std::chrono::milliseconds>(backoff * 2, 1s);
            }
        }
    }

    const std::string host_;
    const int port_;
    const std::string prefix_;
    const backend_options opts_;
    const std::string consumer_;
    std::map<const redis::script*, std::string> function_;  // filled by the constructor, then read only
    // Successful connects of any of this backend's connections (see connection's constructor).
    std::shared_ptr<std::atomic<std::uint64_t>> reached_ = std::make_shared<std::atomic<std::uint64_t>>(0);

    std::vector<std::unique_ptr<slot>> pool_;
    std::atomic<std::size_t> next_slot_{0};

    std::mutex claim_m_;  // guards the members up to prefetched_m_
    redis::connection block_;
    std::array<std::string, 3> cursors_{"0-0", "0-0", "0-0"};  // XAUTOCLAIM's, per priority
    steady::time_point next_reclaim_{};
    std::chrono::milliseconds reclaim_every_{};
    std::atomic<bool> blocking_{false}, interrupted_{false};
    std::atomic<std::int64_t> block_client_id_{0};

    static constexpr std::size_t max_batch = 256;
    std::mutex complete_m_;  // guards waiting_, completing_ and the completions' done
    std::condition_variable complete_cv_;
    std::deque<completion*> waiting_;
    bool completing_ = false;
    // Held by the caller that is completing_ (one at a time): when the
    // streams were last trimmed, acknowledgements since.
    // A trim costs the server about what a few deliveries do: at a high
    // rate the count triggers it (a stream keeps ~1,000 acknowledged entries
    // at most, ~20 bytes each), at a low rate the time (at most one a second).
    static constexpr std::size_t trim_every_acks = 1000;
    static constexpr std::chrono::milliseconds trim_every = 1s;
    steady::time_point last_trim_ = steady::now();
    std::size_t acks_since_trim_ = 0;

    std::mutex prefetched_m_;
    std::deque<claimed_task> prefetched_;

    std::mutex sub_m_;  // guards listener_, stop_, sub_tried_
    std::condition_variable sub_cv_;
    std::function<void(task_id)> listener_;
    bool stop_ = false;
    bool sub_tried_ = false;  // the subscriber subscribed, or failed to, once
    std::thread sub_;
};

}  // namespace

std::unique_ptr<queue_backend> make_redis_backend(const std::string& host, int port, const std::string& queue,
                                                  const backend_options& o) {
    return std::make_unique<redis_backend>(host, port, queue, o);
}

}  // namespace csp
