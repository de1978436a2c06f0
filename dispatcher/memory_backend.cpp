// The in-process queue backend: a table of task records behind one mutex,
// and a condition variable claimers wait on. It is the reference the
// contract tests hold the durable backends to, and task_queue's store for
// "memory" (gone with the process).
//
// Invariants:
// 1. Every member below `mu` is read and written under it.
// 2. A running task has a receipt (a counter value unique per delivery) and a
//    lease; complete() and heartbeat() act only with the current receipt,
//    so an outcome of a delivery whose lease was taken back is refused.
// 3. claim() first moves time along (due scheduled / retrying tasks become
//    queued; expired leases are taken back: queued again, or final when out
//    of attempts or deliveries), then takes queued tasks in (priority, id)
//    order. Its waits end on enqueue, on retry, on interrupt, and at the
//    earliest time something becomes due.
// 4. interrupt() is sticky: it ends the claim waiting now or, if none is,
//    the next claim's wait (so a stop between a claimer's check and its
//    wait is not missed).
#include <dispatcher/queue_backend.hpp>
#include <dispatcher/internal/backend_rules.hpp>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

namespace csp {

namespace {

class memory_backend final : public queue_backend {
public:
    explicit memory_backend(const backend_options& o) : opt_(o) {}

    enqueue_result enqueue(const task_spec& t) override {
        std::lock_guard lk(mu_);
        if (!t.unique_key.empty()) {
            if (auto it = keys_.find(t.unique_key); it != keys_.end()) return {it->second, true};
        }
        task_record r;
        r.id = ++last_id_;
        r.type = t.type;
        r.payload = t.payload;
        r.priority = t.priority;
        r.max_attempts = std::max(1u, t.max_attempts);
        r.timeout = t.timeout;
        r.submitted = wall_clock::now();
        r.not_before = t.not_before;
        r.state = t.not_before > r.submitted ? job_state::scheduled : job_state::queued;
        entry& e = tasks_[r.id];
        e.rec = std::move(r);
        e.unique_key = t.unique_key;
        if (!e.unique_key.empty()) keys_[e.unique_key] = e.rec.id;
        if (e.rec.state == job_state::queued) ready_.insert(order_of(e.rec));
        else waiting_.insert({e.rec.not_before, e.rec.id});
        cv_.notify_all();
        return {e.rec.id, false};
    }

    std::vector<claimed_task> claim(std::size_t n, std::chrono::milliseconds wait) override {
        std::unique_lock lk(mu_);
        const auto deadline = wall_clock::now() + wait;
        std::vector<claimed_task> out;
        for (;;) {
            const auto now = wall_clock::now();
            advance(now);
            while (out.size() < n && !ready_.empty()) {
                entry& e = tasks_.at(ready_.begin()->second);
                ready_.erase(ready_.begin());
                out.push_back(deliver(e, now));
            }
            if (!out.empty() || n == 0 || now >= deadline) return out;
            if (interrupted_) {
                interrupted_ = false;
                return out;
            }
            cv_.wait_until(lk, std::min(deadline, next_due()));
        }
    }

    bool complete(const claimed_task& t, const task_outcome& o) override {
        std::lock_guard lk(mu_);
        return complete_locked(t, o);
    }

    // One lock for the whole batch.
    std::vector<bool> complete_many(const std::vector<std::pair<claimed_task, task_outcome>>& done) override {
        std::vector<bool> accepted;
        accepted.reserve(done.size());
        std::lock_guard lk(mu_);
        for (const auto& [t, o] : done) accepted.push_back(complete_locked(t, o));
        return accepted;
    }

    std::vector<task_id> heartbeat(const std::vector<claimed_task>& running) override {
        std::lock_guard lk(mu_);
        std::vector<task_id> cancel;
        const auto until = wall_clock::now() + opt_.visibility_timeout;
        for (const claimed_task& t : running) {
            entry* e = current(t);
            if (!e) continue;
            leases_.erase({e->lease_until, t.id});
            e->lease_until = until;
            leases_.insert({until, t.id});
            if (e->rec.cancel_requested) cancel.push_back(t.id);
        }
        return cancel;
    }

    std::optional<task_record> find(task_id id) override {
        std::lock_guard lk(mu_);
        auto it = tasks_.find(id);
        if (it == tasks_.end()) return std::nullopt;
        return it->second.rec;
    }

    std::vector<task_record> list(std::size_t limit, std::optional<job_state> state) override {
        std::lock_guard lk(mu_);
        std::vector<task_record> out;
        for (auto it = tasks_.rbegin(); it != tasks_.rend() && out.size() < limit; ++it)
            if (!state || it->second.rec.state == *state) out.push_back(it->second.rec);
        return out;
    }

    std::optional<cancel_result> cancel(task_id id) override {
        std::lock_guard lk(mu_);
        auto it = tasks_.find(id);
        if (it == tasks_.end()) return std::nullopt;
        entry& e = it->second;
        switch (e.rec.state) {
            case job_state::queued:
            case job_state::scheduled:
            case job_state::retrying:
                e.rec.cancel_requested = true;
                finish(e, job_state::cancelled, {}, "cancelled before it ran", wall_clock::now());
                return cancel_result::cancelled;
            case job_state::running:
                if (e.rec.cancel_requested) return cancel_result::already_cancelled;
                e.rec.cancel_requested = true;
                return cancel_result::cancelling;
            default:
                return e.rec.state == job_state::cancelled ? cancel_result::already_cancelled
                                                           : cancel_result::already_final;
        }
    }

    queue_stats stats() override {
        std::lock_guard lk(mu_);
        queue_stats s;
        for (const auto& [id, e] : tasks_) detail::count_state(s, e.rec.state);
        s.dead_letters = s.failed;
        return s;
    }

    void interrupt() override {
        std::lock_guard lk(mu_);
        interrupted_ = true;
        cv_.notify_all();
    }

private:
    // complete() with mu_ held.
    bool complete_locked(const claimed_task& t, const task_outcome& o) {
        entry* e = current(t);
        if (!e) return false;
        const auto now = wall_clock::now();
        task_record& r = e->rec;
        r.owner.clear();
        const detail::stored_outcome to = detail::outcome_to_store(o, r.cancel_requested, r.attempts, r.max_attempts);
        if (to.retry) {
            leases_.erase({e->lease_until, r.id});
            r.state = job_state::retrying;
            r.error = o.error;
            r.not_before = *o.retry_at;
            waiting_.insert({r.not_before, r.id});
            e->receipt = 0;
            cv_.notify_all();
            return true;
        }
        finish(*e, to.state, o.result, to.state == job_state::succeeded ? std::string() : o.error, now);
        return true;
    }

    struct entry {
        task_record rec;
        std::string unique_key;
        std::uint64_t receipt = 0;  // current delivery; 0: none
        wall_clock::time_point lease_until{};
    };
    // Higher priority first, then lower id.
    using order = std::pair<int, task_id>;
    static order order_of(const task_record& r) { return {-static_cast<int>(r.priority), r.id}; }
    using timed = std::pair<wall_clock::time_point, task_id>;

    // The delivery of t, if it is still the current one.
    entry* current(const claimed_task& t) {
        auto it = tasks_.find(t.id);
        if (it == tasks_.end() || it->second.rec.state != job_state::running) return nullptr;
        if (std::to_string(it->second.receipt) != t.receipt) return nullptr;
        return &it->second;
    }

    claimed_task deliver(entry& e, wall_clock::time_point now) {
        task_record& r = e.rec;
        r.state = job_state::running;
        ++r.attempts;
        r.started = now;
        r.owner = "memory";
        e.receipt = ++last_receipt_;
        e.lease_until = now + opt_.visibility_timeout;
        leases_.insert({e.lease_until, r.id});
        return {r.id, r.type, r.payload, r.attempts, r.max_attempts, r.timeout, std::to_string(e.receipt)};
    }

    void finish(entry& e, job_state s, const std::string& result, const std::string& error,
                wall_clock::time_point now) {
        if (e.rec.state == job_state::queued) ready_.erase(order_of(e.rec));
        if (e.rec.state == job_state::scheduled || e.rec.state == job_state::retrying)
            waiting_.erase({e.rec.not_before, e.rec.id});
        if (e.rec.state == job_state::running) leases_.erase({e.lease_until, e.rec.id});
        e.rec.state = s;
        e.rec.result = result;
        e.rec.error = error;
        e.rec.finished = now;
        e.rec.owner.clear();
        e.receipt = 0;
        if (!e.unique_key.empty()) keys_.erase(e.unique_key);
    }

    // Invariant 3: due waits end, expired leases come back.
    void advance(wall_clock::time_point now) {
        while (!waiting_.empty() && waiting_.begin()->first <= now) {
            task_record& r = tasks_.at(waiting_.begin()->second).rec;
            waiting_.erase(waiting_.begin());
            r.state = job_state::queued;
            ready_.insert(order_of(r));
        }
        while (!leases_.empty() && leases_.begin()->first <= now) {
            entry& e = tasks_.at(leases_.begin()->second);
            task_record& r = e.rec;
            const detail::stored_outcome to =
                detail::lease_expired_to_store(r.cancel_requested, r.attempts, r.max_attempts, opt_.max_deliveries);
            const std::string why = detail::lease_expired_error(to.state, r.attempts);
            if (to.state != job_state::queued) {
                finish(e, to.state, {}, why, now);
                continue;
            }
            leases_.erase(leases_.begin());
            r.state = job_state::queued;
            r.error = why;
            r.owner.clear();
            e.receipt = 0;
            ready_.insert(order_of(r));
        }
    }

    // The earliest time advance() would change something.
    wall_clock::time_point next_due() const {
        auto t = wall_clock::time_point::max();
        if (!waiting_.empty()) t = waiting_.begin()->first;
        if (!leases_.empty()) t = std::min(t, leases_.begin()->first);
        return t;
    }

    const backend_options opt_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::map<task_id, entry> tasks_;
    std::set<order> ready_;    // the queued tasks
    std::set<timed> waiting_;  // scheduled and retrying, by not_before
    std::set<timed> leases_;   // running, by lease_until
    std::unordered_map<std::string, task_id> keys_;  // unique keys of open tasks
    task_id last_id_ = 0;
    std::uint64_t last_receipt_ = 0;
    bool interrupted_ = false;
};

}  // namespace

std::unique_ptr<queue_backend> make_memory_backend(const backend_options& o) {
    return std::make_unique<memory_backend>(o);
}

}  // namespace csp
