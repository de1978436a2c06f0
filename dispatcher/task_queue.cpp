// csp::task_queue (see task_queue.hpp).
//
// Invariants:
// 1. The table of running deliveries (by_job, by_task) belongs to the
//    coordinator goroutine; nothing else reads or writes it.
// 2. Credit: `credit` counts worker slots not yet reserved. The pump
//    reserves all of it before a claim and gives back what it did not get;
//    the coordinator adds 1 + prefetch per started worker (a slot for the
//    task it runs, `prefetch` for tasks waiting in hand) and one per finished
//    delivery, and takes 1 + prefetch per quit or dead worker. A finished delivery's
//    credit goes back at once while at most `workers` outcomes wait for the
//    store (its worker is free: the next claim overlaps the store's round
//    trip), otherwise once its outcome is stored. So the pump never claims
//    more than the workers can start or hold in hand (backpressure), and
//    the deliveries this process holds stay below (2 + prefetch) x workers.
// 3. A final event goes out only after complete_many() returned: a status
//    query after the event sees the stored outcome.
// 4. Backend calls: the pump thread calls claim(), the store thread
//    complete_many() (plain threads of the queue's own); every other call is
//    made through csp::blocking, which runs it inline on a plain thread and
//    on the blocking pool from a goroutine.
// 5. Stop: the pump ends (interrupt() ends its wait; it closes `claimed` as
//    its last act), then the coordinator waits until no delivery is running
//    or being completed, shuts the dispatcher down and forwards its events
//    until they close; then it closes `events_out` and `stopped`.
#include <dispatcher/task_queue.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <chan/select.hpp>
#include <chan/time.hpp>
#include <fiber/blocking.hpp>
#include <fiber/go.hpp>
#include <fiber/sleep.hpp>

namespace csp {

namespace {

/// A claimed task as the pump decoded it.
struct delivery {
    claimed_task task;
    task_handler handler;  // null: `error` says why it cannot run
    std::shared_ptr<const nlohmann::json> payload;
    std::string error;
};

/// An outcome for the store thread, and its report back (stored, or refused).
struct stored {
    claimed_task task;
    task_outcome outcome;
    worker_id worker = 0;
    bool accepted = true;
    bool credit_back = false;  // its worker slot's credit went back when it finished (invariant 2)
};

// How long the pump waits for a quarter of the workers to be free before
// it claims for fewer (run_pump).
constexpr auto claim_gather_wait = std::chrono::microseconds(500);

enum class control_kind : unsigned char { stop_graceful, stop_now, events_on };

}  // namespace

struct task_queue::state {
    explicit state(task_queue_options&& o)
        : opt(std::move(o)),
          backend(opt.backend ? std::move(opt.backend) : make_memory_backend()),
          d(dispatcher_options{.workers = 0, .events_from_start = true}),
          handlers(opt.handlers.begin(), opt.handlers.end()) {}

    task_queue_options opt;
    std::unique_ptr<queue_backend> backend;
    dispatcher d;

    std::mutex handlers_mu;
    std::unordered_map<std::string, task_handler> handlers;

    // Invariant 2 (the pump waits on credit_cv).
    std::mutex credit_mu;
    std::condition_variable credit_cv;
    long credit = 0;
    bool pump_stop = false;

    chan<std::vector<delivery>> claimed{16};  // pump -> coordinator; closed when the pump ends
    chan<std::vector<stored>> finished{64};   // the store thread -> coordinator: one batch per store call
    chan<task_id> cancels{1024};              // cancel() and the backend's listener -> coordinator
    chan<std::vector<task_id>> heartbeats{1}; // the heartbeat goroutine -> coordinator
    chan<control_kind> control{16};
    chan<task_event> events_out{1024};
    chan<unit> stopped;
    chan<unit> progress{1};  // a nudge to wait_all: outcomes were stored (coordinator -> waiter)
    std::atomic<bool> shutting_down{false};
    std::atomic<bool> events_on{false};

    std::atomic<std::uint64_t> n_claimed{0}, n_completed{0}, n_retries{0}, n_refused{0}, n_undeliverable{0},
        n_dropped{0};
    std::thread pump;

    std::mutex store_mu;
    std::condition_variable store_cv;
    std::deque<stored> outcomes;
    bool store_stop = false;
    std::thread store;

    void add_credit(long n) {
        {
            std::lock_guard lk(credit_mu);
            credit += n;
        }
        credit_cv.notify_all();
    }

    delivery decode(claimed_task&& t) {
        delivery dl;
        dl.task = std::move(t);
        {
            std::lock_guard lk(handlers_mu);
            if (auto it = handlers.find(dl.task.type); it != handlers.end()) dl.handler = it->second;
        }
        if (!dl.handler) {
            dl.error = "no handler for task type \"" + dl.task.type.substr(0, 200) + "\" in this process";
            return dl;
        }
        bool too_deep = false;
        const int max_depth = opt.max_payload_depth;
        nlohmann::json::parser_callback_t limit = [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
            if (depth > max_depth) too_deep = true;
            return !too_deep;
        };
        try {
            auto p = std::make_shared<nlohmann::json>(nlohmann::json::parse(dl.task.payload, limit));
            if (too_deep) dl.error = "undecodable payload: nested deeper than " + std::to_string(max_depth) + " levels";
            else dl.payload = std::move(p);
        } catch (const std::exception& e) {
            dl.error = std::string("undecodable payload (not JSON): ") + e.what();
        }
        if (!dl.error.empty()) dl.handler = nullptr;
        return dl;
    }

    // The pump thread (invariants 2 and 5).
    void run_pump() {
        for (;;) {
            long n = 0;
            {
                std::unique_lock lk(credit_mu);
                credit_cv.wait(lk, [&] { return pump_stop || credit > 0; });
                // Fewer, larger claims: with most workers busy (fewer than a
                // quarter free), a moment's wait for more free slots turns
                // several round trips into one (for the store and for us),
                // and costs nothing while the busy ones are busy. Bounded,
                // so a free worker beside long tasks idles at most that long.
                const long gather = std::max(1L, static_cast<long>(opt.workers) / 4);
                if (credit < gather)
                    credit_cv.wait_for(lk, claim_gather_wait, [&] { return pump_stop || credit >= gather; });
                if (pump_stop) break;
                n = credit;
                credit = 0;
            }
            std::vector<claimed_task> got;
            try {
                got = backend->claim(static_cast<std::size_t>(n), opt.claim_wait);
            } catch (const std::exception&) {
                // The store is away (locked, unreachable): try again after a
                // pause rather than spin on the error.
                add_credit(n);
                std::unique_lock lk(credit_mu);
                credit_cv.wait_for(lk, opt.claim_wait, [&] { return pump_stop; });
                continue;
            }
            add_credit(n - static_cast<long>(got.size()));
            if (got.empty()) continue;
            n_claimed += got.size();
            std::vector<delivery> batch;
            batch.reserve(got.size());
            for (claimed_task& t : got) batch.push_back(decode(std::move(t)));
            claimed.send(std::move(batch));
        }
        claimed.close();
    }

    // The store thread: hands its whole backlog to complete_many() at once
    // (one round trip / transaction for all: the backend's group commit),
    // then reports the outcomes on `finished`, in order, in one message. A thread of its
    // own: no hand-off to the blocking pool per outcome. Invariant 3 holds
    // per outcome: its report (and so its final event) follows the call
    // that stored it.
    void to_store(stored&& f) {
        {
            std::lock_guard lk(store_mu);  // held for a push only: never across a store call
            outcomes.push_back(std::move(f));
        }
        store_cv.notify_one();
    }

    void run_store() {
        std::vector<stored> batch;
        std::vector<std::pair<claimed_task, task_outcome>> calls;
        std::unique_lock lk(store_mu);
        for (;;) {
            store_cv.wait(lk, [&] { return store_stop || !outcomes.empty(); });
            if (outcomes.empty()) return;  // stopping, nothing left
            batch.clear();
            batch.reserve(outcomes.size());
            for (stored& f : outcomes) batch.push_back(std::move(f));
            outcomes.clear();
            lk.unlock();
            calls.clear();
            calls.reserve(batch.size());
            // Why move: the outcome's result/error go back on `finished`
            // from `calls` (the store call only reads them).
            for (stored& f : batch) calls.emplace_back(std::move(f.task), std::move(f.outcome));
            std::vector<bool> accepted;
            std::string failed;
            try {
                accepted = backend->complete_many(calls);
                if (accepted.size() != calls.size()) throw std::runtime_error("complete_many: wrong number of answers");
            } catch (const std::exception& e) {
                // The store failed: the leases lapse and the tasks are
                // delivered again (at least once).
                failed = std::string("the store failed to record the outcome: ") + e.what();
            }
            for (std::size_t i = 0; i < batch.size(); ++i) {
                stored& f = batch[i];
                f.task = std::move(calls[i].first);
                f.outcome = std::move(calls[i].second);
                f.accepted = failed.empty() && accepted[i];
                if (!failed.empty()) f.outcome.error = failed;
            }
            // One message per store call: one wake of the coordinator, not one per outcome.
            finished.send(std::exchange(batch, {}));
            lk.lock();
        }
    }

    void stop_store() {
        {
            std::lock_guard lk(store_mu);
            store_stop = true;
        }
        store_cv.notify_all();
    }

    void stop_pump() {
        {
            std::lock_guard lk(credit_mu);
            pump_stop = true;
        }
        credit_cv.notify_all();
        backend->interrupt();
    }
};

namespace {

using state = task_queue::state;

std::string to_text(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

task_outcome failure(job_state st, std::string error) {
    task_outcome o;
    o.state = st;
    o.error = std::move(error);
    return o;
}

/// The coordinator goroutine (invariant 1).
class coordinator {
public:
    explicit coordinator(std::shared_ptr<state> s) : s_(std::move(s)), devents_(s_->d.events()) {
        if (s_->opt.events_from_start) s_->events_on = true;
    }

    void run() {
        ticker hb(std::max(s_->opt.heartbeat_interval, std::chrono::milliseconds(1)));
        // Invariant 5: the dispatcher's events close last, after the pump
        // ended and every outcome was stored (or, if the dispatcher gave up
        // by itself, the rest is wound up here).
        while (!devents_.is_nil() || !claimed_.is_nil() || !storing_.empty()) {
            select(case_recv(claimed_, [this](std::optional<std::vector<delivery>> b) {
                       if (b) on_claimed(std::move(*b));
                       else {
                           claimed_ = chan<std::vector<delivery>>::nil();
                           maybe_stop();
                       }
                   }),
                   case_recv(devents_, [this](std::optional<dispatcher_event> e) {
                       if (e) return on_dispatcher_event(*e);
                       devents_ = chan<dispatcher_event>::nil();
                       if (stop_ != control_kind::stop_now) on_control(control_kind::stop_now);
                   }),
                   case_recv(s_->finished, [this](std::optional<std::vector<stored>> b) {
                       for (stored& f : *b) on_stored(std::move(f));
                       s_->progress.try_send(unit{});  // full: a nudge is already waiting
                   }),
                   case_recv(s_->cancels, [this](std::optional<task_id> id) { on_cancel(*id, true); }),
                   case_recv(s_->heartbeats, [this](std::optional<std::vector<task_id>> ids) {
                       heartbeat_busy_ = false;
                       if (ids)
                           for (task_id id : *ids) on_cancel(id, false);
                   }),
                   case_recv(s_->control, [this](std::optional<control_kind> c) { on_control(*c); }),
                   case_recv(hb.c, [this](std::optional<std::chrono::steady_clock::time_point>) { heartbeat(); }),
                   case_send(pending_.empty() ? chan<task_event>::nil() : s_->events_out,
                             pending_.empty() ? task_event{} : pending_.front(), [this] { pending_.pop_front(); }));
        }
        hb.stop();
        // Invariant 5: whatever fits still goes out; then the range ends.
        while (!pending_.empty() && s_->events_out.try_send(pending_.front())) pending_.pop_front();
        s_->n_dropped += pending_.size();
        s_->events_out.close();
        s_->stopped.close();
    }

private:
    struct running {
        claimed_task task;
        job_handle<std::string> h;
        worker_id worker = 0;
    };

    // Invariant 2: what a worker adds to the credit (its slot and what it may hold in hand).
    long slot_credit() const { return 1 + static_cast<long>(s_->opt.prefetch); }

    void emit(task_event e) {
        if (s_->events_on) pending_.push_back(std::move(e));
    }

    void on_claimed(std::vector<delivery>&& batch) {
        for (delivery& dl : batch) start(std::move(dl));
    }

    void start(delivery&& dl) {
        // The outcome of its previous delivery is being stored: its
        // event (retrying) goes out first, so this one waits for it.
        if (storing_.count(dl.task.id) != 0) {
            held_.emplace(dl.task.id, std::move(dl));
            return;
        }
        if (!dl.handler) {
            ++s_->n_undeliverable;
            complete(dl.task, failure(job_state::failed, dl.error), 0);
            return;
        }
        if (stop_ == control_kind::stop_now || devents_.is_nil()) {
            complete(dl.task, failure(job_state::cancelled, "cancelled: the queue shut down now"), 0);
            return;
        }
        auto fn = [handler = std::move(dl.handler), payload = std::move(dl.payload),
                   t = dl.task](const context& ctx) -> std::string { return to_text(handler(*payload, ctx, t)); };
        job_options o;
        o.name = dl.task.type;
        o.timeout = dl.task.timeout;
        job_handle<std::string> h;
        try {
            h = s_->d.submit(std::move(fn), std::move(o));
        } catch (const dispatcher_error& e) {  // the dispatcher gave up (supervisor): cannot run it here
            complete(dl.task, failure(job_state::cancelled, std::string("not run: ") + e.what()), 0);
            return;
        }
        by_task_[dl.task.id] = h.id();
        by_job_.emplace(h.id(), running{dl.task, h, 0});
        if (early_cancels_.erase(dl.task.id) != 0) s_->d.cancel(h.id());
    }

    void on_dispatcher_event(const dispatcher_event& e) {
        task_event te;
        te.what = e.what;
        te.worker = e.worker;
        te.error = e.error;
        switch (e.what) {
            case dispatcher_event::kind::worker_started:
                ++workers_;
                s_->add_credit(slot_credit());
                return emit(std::move(te));
            case dispatcher_event::kind::worker_quit:
            case dispatcher_event::kind::worker_died:
                --workers_;
                s_->add_credit(-slot_credit());
                return emit(std::move(te));
            case dispatcher_event::kind::supervisor_gave_up: return emit(std::move(te));
            case dispatcher_event::kind::job: break;
        }
        auto it = by_job_.find(e.job);
        if (it == by_job_.end()) return;
        running& r = it->second;
        if (e.state == job_state::running) {
            r.worker = e.worker;
            te.id = r.task.id;
            te.type = r.task.type;
            te.state = job_state::running;
            te.attempt = r.task.attempt;
            return emit(std::move(te));
        }
        if (!is_final(e.state)) return;
        task_outcome o;
        o.state = e.state;
        if (e.state == job_state::succeeded) {
            o.result = r.h.get();  // done is closed before the final event
        } else {
            o.error = e.error;
            if (e.state != job_state::cancelled && r.task.attempt < r.task.max_attempts) {
                const unsigned retry = r.task.attempt;  // the retry-th retry comes next
                const auto delay = s_->opt.backoff ? s_->opt.backoff(r.task, retry) : sidekiq_backoff(retry);
                o.retry_at = wall_clock::now() + std::chrono::duration_cast<wall_clock::duration>(delay);
            }
        }
        const claimed_task t = r.task;
        const worker_id w = r.worker;
        by_task_.erase(t.id);
        by_job_.erase(it);
        complete(t, std::move(o), w);
    }

    // Invariant 3: stored first (by the store thread), then told.
    void complete(const claimed_task& t, task_outcome o, worker_id w) {
        storing_.emplace(t.id, t);  // heartbeated until stored: its lease must hold meanwhile
        // Invariant 2: its worker is free now; a bounded backlog of the store.
        const bool credit_back = storing_.size() <= std::max<std::size_t>(workers_, 1);
        if (credit_back) s_->add_credit(1);
        s_->to_store(stored{t, std::move(o), w, false, credit_back});
    }

    void on_stored(stored&& f) {
        for (auto [b, e] = storing_.equal_range(f.task.id); b != e; ++b)
            if (b->second.receipt == f.task.receipt) {
                storing_.erase(b);
                break;
            }
        if (!f.credit_back) s_->add_credit(1);
        if (!f.accepted) {
            ++s_->n_refused;  // its lease was lost: the delivery that took it over reports
        } else {
            ++s_->n_completed;
            task_event te;
            te.id = f.task.id;
            te.type = f.task.type;
            te.attempt = f.task.attempt;
            te.worker = f.worker;
            te.state = f.outcome.retry_at ? job_state::retrying : f.outcome.state;
            if (te.state == job_state::retrying) ++s_->n_retries;
            te.result = std::move(f.outcome.result);
            te.error = std::move(f.outcome.error);
            emit(std::move(te));
        }
        if (auto h = held_.find(f.task.id); h != held_.end() && storing_.count(f.task.id) == 0) {
            delivery dl = std::move(h->second);
            held_.erase(h);
            start(std::move(dl));
        }
        maybe_stop();
    }

    // `remember`: a cancel for a task this process may have claimed but not
    // yet received from the pump is applied when it arrives.
    void on_cancel(task_id id, bool remember) {
        if (auto it = by_task_.find(id); it != by_task_.end()) s_->d.cancel(it->second);
        else if (remember && !claimed_.is_nil()) early_cancels_.insert(id);
    }

    void heartbeat() {
        if (heartbeat_busy_ || (by_job_.empty() && storing_.empty() && held_.empty())) return;
        heartbeat_busy_ = true;
        // Every delivery this process holds keeps its lease: running ones,
        // finished ones whose outcome waits for the store thread, and ones
        // held back behind such an outcome. A lease that lapsed while the
        // outcome was queued would let a claim (ours or another process's)
        // run the task again though nobody died.
        std::vector<claimed_task> all;
        all.reserve(by_job_.size() + storing_.size() + held_.size());
        for (const auto& [job, r] : by_job_) all.push_back(r.task);
        for (const auto& [id, t] : storing_) all.push_back(t);
        for (const auto& [id, dl] : held_) all.push_back(dl.task);
        go([s = s_, all = std::move(all)] {
            std::vector<task_id> cancel;
            try {
                cancel = blocking([&] { return s->backend->heartbeat(all); });
            } catch (const std::exception&) {
                // The store is away: the next beat tries again (the
                // visibility timeout is well above the interval).
            }
            s->heartbeats.send(std::move(cancel));
        });
    }

    void on_control(control_kind c) {
        if (c == control_kind::events_on) {
            s_->events_on = true;
            return;
        }
        if (stop_ == control_kind::stop_now || (stop_ && c == control_kind::stop_graceful)) return;
        stop_ = c;
        if (c == control_kind::stop_now)
            for (const auto& [job, r] : by_job_) s_->d.cancel(job);
        go([s = s_] { blocking([&] { s->stop_pump(); }); });
        maybe_stop();
    }

    // Invariant 5.
    void maybe_stop() {
        if (!stop_ || !claimed_.is_nil() || !by_job_.empty() || !storing_.empty() || dispatcher_stopping_) return;
        dispatcher_stopping_ = true;
        const stop_mode m = stop_ == control_kind::stop_now ? stop_mode::now : stop_mode::graceful;
        go([s = s_, m] {
            try {
                s->d.shutdown(m);
            } catch (const dispatcher_error&) {  // it had given up and shut down by itself
            }
        });
    }

    std::shared_ptr<state> s_;
    recv_chan<dispatcher_event> devents_;
    recv_chan<std::vector<delivery>> claimed_ = s_->claimed;
    std::unordered_map<job_id, running> by_job_;
    std::unordered_map<task_id, job_id> by_task_;
    std::unordered_set<task_id> early_cancels_;
    // Deliveries whose outcome waits for the store thread (heartbeated until
    // stored); a task may be here twice (a stale delivery and a newer one).
    std::unordered_multimap<task_id, claimed_task> storing_;
    std::unordered_map<task_id, delivery> held_;  // deliveries waiting for such an outcome of their task
    std::deque<task_event> pending_;
    std::size_t workers_ = 0;  // started and not quit or dead (invariant 2's bound)
    bool heartbeat_busy_ = false;
    std::optional<control_kind> stop_;
    bool dispatcher_stopping_ = false;
};

}  // namespace

task_queue::task_queue(task_queue_options o) : s_(std::make_shared<state>(std::move(o))) {
    s_->backend->set_cancel_listener([c = s_->cancels](task_id id) { c.send(id); });
    go(stack_size{256 * 1024}, [s = s_] { coordinator(s).run(); });
    s_->pump = std::thread([s = s_] { s->run_pump(); });
    s_->store = std::thread([s = s_] { s->run_store(); });
    if (s_->opt.workers > 0) s_->d.add_workers(s_->opt.workers);
}

task_queue::~task_queue() {
    if (!stopped()) {
        try {
            shutdown(stop_mode::now);
        } catch (...) {
        }
    }
    s_->stopped.recv();
    // Both threads are done with their work by now (invariant 5): joins are short.
    if (s_->pump.joinable()) s_->pump.join();
    s_->stop_store();
    if (s_->store.joinable()) s_->store.join();
}

void task_queue::handle(const std::string& type, task_handler h) {
    std::lock_guard lk(s_->handlers_mu);
    s_->handlers[type] = std::move(h);
}

void task_queue::handle(const std::string& type,
                        std::function<nlohmann::json(const nlohmann::json&, const context&)> h) {
    handle(type, task_handler([h = std::move(h)](const nlohmann::json& p, const context& ctx, const claimed_task&) {
               return h(p, ctx);
           }));
}

enqueue_result task_queue::submit_text(const std::string& type, const std::string& payload, const task_options& o) {
    if (s_->shutting_down) throw dispatcher_error(dispatcher_errc::shut_down, "task_queue: shutting down");
    task_spec t;
    t.type = type;
    t.payload = payload;
    t.priority = o.priority;
    t.max_attempts = 1 + o.retries;
    t.timeout = o.timeout;
    if (o.delay.count() > 0) t.not_before = wall_clock::now() + o.delay;
    t.unique_key = o.unique_key;
    return blocking([&] { return s_->backend->enqueue(t); });
}

task_id task_queue::submit(const std::string& type, const nlohmann::json& payload, const task_options& o) {
    return submit_text(type, to_text(payload), o).id;
}

std::optional<task_record> task_queue::status(task_id id) {
    return blocking([&] { return s_->backend->find(id); });
}

std::optional<cancel_result> task_queue::cancel(task_id id) {
    auto r = blocking([&] { return s_->backend->cancel(id); });
    // Running here: cancel it now rather than at the next heartbeat.
    if (r == cancel_result::cancelling && !stopped()) s_->cancels.send(id);
    return r;
}

std::vector<task_record> task_queue::list(std::size_t limit, std::optional<job_state> st) {
    return blocking([&] { return s_->backend->list(limit, st); });
}

queue_stats task_queue::stats() {
    return blocking([&] { return s_->backend->stats(); });
}

task_queue_metrics task_queue::metrics() const {
    task_queue_metrics m;
    m.local = s_->d.metrics();
    m.claimed = s_->n_claimed;
    m.completed = s_->n_completed;
    m.retries = s_->n_retries;
    m.refused = s_->n_refused;
    m.undeliverable = s_->n_undeliverable;
    m.events_dropped = s_->n_dropped;
    return m;
}

std::vector<worker_id> task_queue::add_workers(std::size_t n) { return s_->d.add_workers(n); }
void task_queue::quit_worker(worker_id id, stop_mode m) { s_->d.quit_worker(id, m); }
std::vector<worker_id> task_queue::workers() const { return s_->d.workers(); }

recv_chan<task_event> task_queue::events() {
    if (!s_->events_on && !stopped()) s_->control.send(control_kind::events_on);
    return s_->events_out;
}

bool task_queue::wait_all_for(std::chrono::steady_clock::duration d) {
    const auto until = std::chrono::steady_clock::now() + d;
    for (;;) {
        const queue_stats st = stats();
        if (st.queued + st.scheduled + st.running + st.retrying == 0) return true;
        const auto now = std::chrono::steady_clock::now();
        if (now >= until) return false;
        // A local completion may have been the last; other processes'
        // completions show only in the store: look again at least every 20 ms.
        s_->progress.recv_until(std::min(until, now + std::chrono::milliseconds(20)));
    }
}

void task_queue::wait_all() { wait_all_for(std::chrono::hours(24 * 365)); }

void task_queue::shutdown(stop_mode m) {
    s_->shutting_down = true;
    if (!stopped()) s_->control.send(m == stop_mode::now ? control_kind::stop_now : control_kind::stop_graceful);
    s_->stopped.recv();
}

bool task_queue::stopped() const { return s_->stopped.try_recv().status == chan_status::closed; }

queue_backend& task_queue::backend() { return *s_->backend; }

}  // namespace csp
