// The dispatcher's loop: one goroutine that selects over the intake, the
// worker channel, the status channel and the control channel, and alone
// owns the job table and the worker table (invariants in dispatcher.hpp).
#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <variant>

#include <chan/select.hpp>
#include <chan/time.hpp>
#include <fiber/go.hpp>

#include "internal/state.hpp"

namespace csp::detail {

namespace {

enum class phase : unsigned char {
    running,   // taking jobs
    draining,  // graceful shutdown: intake closed, queued jobs still run
    stopping,  // shutdown now, or draining done: every worker is quitting
};

struct worker_rec {
    chan<work_item> work;
    chan<unit> quit;
    job_id job = 0;         // handed to it, verdict not yet in
    cancel_func cancel;     // cancels that job's context, if it has one (Go's defer cancel() once it is back)
    bool idle = false;      // registered and in idle_; its work channel is empty
    bool quitting = false;  // told, or to be told when idle, to quit
    bool blocked = false;   // its job waits on another job (a worker is lent meanwhile)
};

/// A job_group's record (invariant 13).
struct group_rec {
    std::vector<job_id> jobs;  // submitted into it and maybe open (cleared whenever none is)
    std::size_t open = 0;      // of those, not final
    bool cancel_on_error = false;
    bool failed = false;       // a job of it did not succeed; `first` is its error
    std::exception_ptr first;
    std::vector<chan<std::exception_ptr>> waiters;  // capacity 1 each
};

/// An exception's text: its what(), or "unknown exception".
std::string what_of(const std::exception_ptr& e) {
    if (!e) return {};
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return x.what();
    } catch (...) {
        return "unknown exception";
    }
}

std::exception_ptr ended_error(dispatcher_errc c, job_id id, const char* how) {
    return std::make_exception_ptr(dispatcher_error(c, "dispatcher: job " + std::to_string(id) + " " + how));
}

}  // namespace

struct dispatcher_loop {
    std::shared_ptr<dispatcher_state> s;
    std::unique_ptr<job_store> store;
    std::size_t target;  // workers wanted, not counting those lent to blocked jobs

    std::map<worker_id, worker_rec> workers{};  // live workers (until they report quit)
    std::size_t live = 0;                       // of those, not quitting
    // Idle workers, the most recently idle last: jobs go to it first (its
    // stack and its thread are warm; with tiny jobs a few workers do all
    // the work). May hold stale ids: check worker_rec::idle.
    std::vector<worker_id> idle{};
    worker_id next_worker = 1;
    std::deque<clock::time_point> restarts{};  // supervision: restarts within the last restart_period
    std::size_t blocked = 0;     // workers whose job is blocked on another job
    std::size_t unfinished = 0;  // jobs taken from the intake, not final yet
    std::vector<wait_all_msg> waiters{};
    std::unordered_map<std::string, job_id> unique_keys{};  // key -> its open job (job_options::unique_key)
    std::unordered_map<std::uint64_t, group_rec> groups{};  // job_group records, until forgotten
    phase ph = phase::running;
    bool now_begun = false;  // a shutdown now (or an escalation to it) has begun
    chan<submission> intake = s->intake;  // nil once closed and drained
    // Wakes the loop when the earliest scheduled or retrying job is due.
    std::unique_ptr<timer> wake = std::make_unique<timer>(clock::duration::zero());
    std::optional<clock::time_point> wake_at = clock::time_point{};

    // Events (dispatcher::events()): nil until someone asks; undelivered
    // ones wait in `pending` and go out through a send case of the select,
    // so a slow reader never blocks the loop (invariant 2).
    chan<dispatcher_event> events = s->events_from_start ? make_events() : chan<dispatcher_event>::nil();
    std::deque<dispatcher_event> pending{};

    // Metrics.
    clock::time_point started_at = clock::now();
    dispatcher_metrics totals{};  // the totals; the rest is computed when asked
    std::vector<clock::duration> run_times = std::vector<clock::duration>(4096);  // a ring of the last run times
    std::size_t run_times_n = 0;

    static constexpr int max_yields = 4;

    void operator()() {
        balance();
        bool backlog = false;  // the last round handed jobs out, and more wait for a worker
        int yields = 0;        // rounds since the last select
        while (!(ph != phase::running && intake.is_nil() && workers.empty())) {
            // Before the select, with a backlog (every worker busy, jobs
            // queued): what comes next is the workers' reports, so let them
            // run first (a yield puts this goroutine behind them); their
            // reports then wait here as one batch and one round answers
            // them all, instead of a park and a wake-up per report (tiny
            // jobs: -25% instructions per job). Not without a backlog: a
            // job submitted then must not wait behind the workers' turns
            // (submit -> start latency). At most max_yields rounds in a
            // row: then the select, so control messages and the timer get
            // their turn.
            if (backlog && yields < max_yields) {
                backlog = false;
                ++yields;
                csp::yield();
                if (take_ready() != 0) {
                    backlog = after_event();
                    flush_events();  // no select this round: its event case does not run
                    continue;
                }
            }
            auto submitted = case_recv(intake, [this](std::optional<submission> m) {
                if (m) take(std::move(*m));
                else intake = chan<submission>::nil();
            });
            auto registered = case_recv(s->workers, [this](std::optional<worker_registration> r) { on_idle(*r); });
            auto reported = case_recv(s->status, [this](std::optional<status_report>&& r) { on_status(std::move(*r)); });
            auto asked = case_recv(s->control, [this](std::optional<control_msg> m) {
                take_ready();  // invariant 7: submissions and reports already sent come first
                std::visit([this](auto& msg) { on(msg); }, *m);
            });
            // The timer and the event cases only when they can fire: a
            // select costs per case, and this one runs about once per job.
            if (wake_at || !pending.empty())
                select(submitted, registered, reported,
                       case_recv(wake->c, [this](std::optional<clock::time_point>) { wake_at.reset(); }),
                       case_send(pending.empty() ? chan<dispatcher_event>::nil() : events,
                                 pending.empty() ? dispatcher_event{} : pending.front(), [this] { pending.pop_front(); }),
                       asked);
            else
                select(submitted, registered, reported, asked);
            yields = 0;
            take_ready();
            backlog = after_event();
        }
        // Invariant 8: every worker has quit, nothing can reach us any more.
        // Hand the table over (invariant 1), then say so.
        s->final_metrics = metrics();
        if (!events.is_nil()) {
            flush_events();  // whatever fits in its buffer still goes out; then the range ends
            s->final_metrics.events_dropped = pending.size();
            events.close();
            s->final_events = events;
        }
        for (auto& [id, g] : groups) s->final_group_errors.emplace(id, g.first);
        s->final_store = std::move(store);
        s->stopped.close();
        s->control.close();
    }

    // ---- jobs ----

    void take(submission&& m) {
        job_record r;
        r.info.id = m.core->id;
        r.info.priority = m.priority;
        r.info.submitted = m.submitted;
        if (m.not_before > m.submitted) {
            r.info.state = job_state::scheduled;
            r.due = m.not_before;
        }
        r.timeout = m.timeout;
        r.retries = m.retries;
        if (m.rest) {
            r.info.name = std::move(m.rest->name);
            // The rarely set options only when set (a record per job: keep it small).
            if (m.rest->backoff || !m.rest->unique_key.empty()) r.options = std::move(m.rest);
        }
        r.core = std::move(m.core);
        r.holds_slot = m.holds_slot;
        r.group = m.group.id;
        job_record& in = store->add(std::move(r));
        ++unfinished;
        ++totals.submitted;
        emit(in);
        if (ph == phase::stopping) {
            join_group(in, m.group);
            cancel_queued(in);
        } else if (join_group(in, m.group)) {
            request_cancel(in);  // its group failed already and cancels on error
        }
    }

    /// Counts job r into its group (if any); true if the group has failed
    /// and cancels on error.
    bool join_group(job_record& r, group_ref ref) {
        if (ref.id == 0) return false;
        group_rec& g = groups[ref.id];
        g.cancel_on_error = ref.cancel_on_error;
        g.jobs.push_back(r.info.id);
        ++g.open;
        return g.failed && g.cancel_on_error;
    }

    /// Job r of a group has just become final with state st and `error`: the first failure is kept and may cancel the rest; the
    /// waiters are answered once none is open.
    void leave_group(const job_record& r, job_state st, const std::exception_ptr& error) {
        auto it = groups.find(r.group);
        if (it == groups.end()) return;  // forgotten
        group_rec& g = it->second;
        --g.open;
        if (st != job_state::succeeded && !g.failed) {
            g.failed = true;
            g.first = error;
            // Cancelling others nests make_final -> leave_group for them;
            // they find `failed` set, so this runs once. The last of them
            // clears `jobs` under this loop: indices, not iterators.
            if (g.cancel_on_error)
                for (std::size_t i = 0; i < g.jobs.size(); ++i)
                    if (job_record* o = store->find(g.jobs[i]); o && !is_final(o->info.state)) request_cancel(*o);
        }
        if (g.open == 0) {
            g.jobs.clear();
            for (auto& w : g.waiters) w.send(g.first);  // capacity 1: never blocks
            g.waiters.clear();
        }
    }

    /// Batching: after the select's one message, takes what else already
    /// waits on the status, worker and intake channels without blocking, so
    /// the bookkeeping of after_event() and the select itself are paid once
    /// per batch, not once per message. Bounded by what the buffers hold,
    /// so control messages and timers still get their turn.
    /// Returns how many messages it took.
    std::size_t take_ready() {
        // One pass, each channel until it is empty (an empty try costs a
        // lock: one per channel per batch). What arrives meanwhile (other
        // threads) wakes the select at once.
        std::size_t n = 0;
        for (;; ++n) {
            recv_result<status_report> r = s->status.try_recv();
            if (r.status != chan_status::ok) break;
            on_status(std::move(*r));
        }
        for (;; ++n) {
            recv_result<worker_registration> r = s->workers.try_recv();
            if (r.status != chan_status::ok) break;
            on_idle(*r);
        }
        return n + drain_intake();
    }

    std::size_t drain_intake() {
        std::size_t n = 0;
        while (!intake.is_nil()) {
            recv_result<submission> m = intake.try_recv();
            if (m.status == chan_status::ok) {
                take(std::move(*m));
                ++n;
            } else {
                if (m.status == chan_status::closed) intake = chan<submission>::nil();
                break;
            }
        }
        return n;
    }

    /// Sends the undelivered events that fit in the event channel's buffer
    /// (never blocks: invariant 2).
    void flush_events() {
        while (!pending.empty() && events.try_send(pending.front())) pending.pop_front();
    }

    /// Reports job r's new state on the event channel, if anyone listens.
    void emit(const job_record& r) {
        if (events.is_nil()) return;
        pending.push_back(dispatcher_event{dispatcher_event::kind::job, r.info.id, r.info.worker, r.info.state,
                                           clock::now(), r.info.error});
    }
    void emit_worker(dispatcher_event::kind k, worker_id w, std::string why = {}) {
        if (events.is_nil()) return;
        pending.push_back(dispatcher_event{k, 0, w, job_state::queued, clock::now(), std::move(why)});
    }

    void count_final(job_state st) {
        switch (st) {
            case job_state::succeeded: ++totals.succeeded; break;
            case job_state::failed: ++totals.failed; break;
            case job_state::cancelled: ++totals.cancelled; break;
            default: ++totals.timed_out; break;
        }
    }

    /// Job r leaves the bounded queue: its submitter's token comes out.
    void release_slot(job_record& r) {
        if (!r.holds_slot) return;
        r.holds_slot = false;
        s->slots.try_recv();  // the token is in the buffer: it went in before the job did
    }

    /// The job's one final state (invariant 5).
    void make_final(job_record& r, job_state st, std::exception_ptr error, std::string text, clock::time_point at) {
        release_slot(r);
        r.info.state = st;
        r.info.finished = at;
        r.info.error = std::move(text);
        count_final(st);
        emit(r);
        r.core->outcome = st;
        r.core->error = error;
        r.handed = false;
        if (!r.unique_key().empty()) unique_keys.erase(r.unique_key());  // free again
        std::shared_ptr<job_core> core = std::move(r.core);  // the handles keep theirs
        core->finish();
        --unfinished;
        // After `done`: a group waiter that is answered finds the job final.
        if (r.group != 0) leave_group(r, st, error);
    }

    /// A failed or timed-out run: true if the job was put back to wait for
    /// another attempt.
    bool retry(job_record& r, std::string error_text, clock::time_point at) {
        if (r.cancel_requested || ph == phase::stopping || r.info.attempts > r.retries) return false;
        const unsigned nth = r.info.attempts;  // this is the nth retry
        r.info.state = job_state::retrying;
        r.info.error = std::move(error_text);
        r.due = at + (r.options && r.options->backoff ? r.options->backoff(nth) : sidekiq_backoff(nth));
        r.handed = false;
        store->schedule(r);
        ++totals.retries;
        emit(r);
        return true;
    }

    void cancel_queued(job_record& r) {
        store->unqueued(r);
        make_final(r, job_state::cancelled, ended_error(dispatcher_errc::job_cancelled, r.info.id, "was cancelled"),
                   "cancelled before it ran", clock::now());
    }

    /// Asks a job that is not final to end cancelled.
    cancel_result request_cancel(job_record& r) {
        if (r.cancel_requested) return cancel_result::already_cancelled;  // final or not (cancel_result)
        if (is_final(r.info.state)) return cancel_result::already_final;
        r.cancel_requested = true;
        if (!r.handed) {  // still queued: it never runs (invariant 6)
            cancel_queued(r);
            return cancel_result::cancelled;
        }
        // Handed to a worker: its verdict comes back; the loop makes it
        // cancelled. A job that takes no context cannot be told; it runs on.
        if (auto it = workers.find(r.info.worker); it != workers.end() && it->second.job == r.info.id && it->second.cancel)
            it->second.cancel();
        return cancel_result::cancelling;
    }

    /// Worker w's job is back (its verdict came, or w died): release the
    /// job's context (Go's defer cancel()).
    static void job_back(worker_rec& w) {
        w.job = 0;
        if (w.cancel) {
            w.cancel();
            w.cancel = nullptr;
        }
    }

    /// Hands queued jobs to idle workers, highest priority first; true if
    /// it handed any.
    bool dispatch() {
        bool handed = false;
        while (store->queued() > 0) {
            worker_id w = 0;
            while (!idle.empty() && w == 0) {
                const worker_id c = idle.back();
                idle.pop_back();
                auto it = workers.find(c);
                if (it != workers.end() && it->second.idle) w = c;
            }
            if (w == 0) return handed;
            job_record* r = store->next_ready();
            worker_rec& wr = workers.at(w);
            // A context only for a job that can see it (it takes one, or
            // its timeout needs one): most tiny jobs take none.
            context ctx;
            if (r->core->takes_context || r->timeout > clock::duration::zero())
                std::tie(ctx, wr.cancel) = with_cancel(background());
            r->handed = true;
            release_slot(*r);
            r->info.worker = w;
            wr.idle = false;
            wr.job = r->info.id;
            wr.work.send(work_item{r->core, std::move(ctx), r->timeout});  // capacity 1, empty: never blocks (invariant 2)
            handed = true;
        }
        return handed;
    }

    // ---- workers ----

    void spawn() {
        const worker_id id = next_worker++;
        worker_rec& w = workers[id];
        w.work = chan<work_item>(1);
        w.quit = chan<unit>(1);
        ++live;
        go(worker_loop{s, id, w.work, w.quit});
        emit_worker(dispatcher_event::kind::worker_started, id);
    }

    void tell_quit(worker_id id, worker_rec& w, bool now) {
        if (!w.quitting) --live;
        w.quitting = true;
        if (w.idle) {
            w.idle = false;  // its id in idle_ goes stale
            w.quit.send(unit{});  // capacity 1, empty: never blocks
        } else if (now && w.job != 0) {
            request_cancel(*store->find(w.job));
        }
        // A busy worker gets its quit when it next registers (invariant 3).
        (void)id;
    }

    std::size_t active() const { return live; }

    /// Keeps `target` workers plus one per blocked job (invariant 9) while
    /// jobs may still come; retires idle workers first when there are too many.
    void balance() {
        if (ph == phase::stopping) {
            if (live == 0) return;
            for (auto& [id, w] : workers)
                if (!w.quitting) tell_quit(id, w, false);
            return;
        }
        const std::size_t want = target == 0 ? 0 : target + blocked;
        std::size_t have = active();
        if (have == want) return;  // the usual case: O(1)
        for (; have < want; ++have) spawn();
        for (int pass = 0; have > want && pass < 3; ++pass)
            for (auto& [id, w] : workers) {
                if (have == want) break;
                const bool pick = pass == 0 ? w.idle : pass == 1 ? !w.blocked : true;
                if (!w.quitting && pick) {
                    tell_quit(id, w, false);
                    --have;
                }
            }
    }

    void on_idle(const worker_registration& reg) {
        worker_rec& w = workers.at(reg.worker);
        // Invariant 4: its verdict went into `status` before this
        // registration; take the buffered reports until it is in.
        while (w.job != 0) {
            recv_result<status_report> r = s->status.try_recv();
            if (r.status != chan_status::ok) break;  // cannot happen (invariant 4)
            on_status(std::move(*r));
        }
        w.work = reg.work;
        w.job = 0;
        if (w.quitting) {
            w.quit.send(unit{});
            return;
        }
        w.idle = true;
        idle.push_back(reg.worker);
    }

    void on_status(status_report&& rep) {
        if (rep.kind == status_kind::quit) {
            workers.erase(rep.worker);
            emit_worker(dispatcher_event::kind::worker_quit, rep.worker);
            return;
        }
        if (rep.kind == status_kind::died) {
            on_death(rep);
            return;
        }
        job_record& r = *store->find(rep.job);
        if (rep.kind == status_kind::started) {
            r.info.state = job_state::running;
            r.info.started = rep.at;
            ++r.info.attempts;
            emit(r);
            return;
        }
        job_back(workers.at(rep.worker));
        if (rep.ran) run_times[run_times_n++ % run_times.size()] = rep.at - r.info.started;
        // The verdict: a cancel taken before it wins (invariant 5).
        status_kind k = r.cancel_requested ? status_kind::cancelled : rep.kind;
        switch (k) {
            case status_kind::succeeded:
                make_final(r, job_state::succeeded, nullptr, {}, rep.at);
                break;
            case status_kind::failed:
                if (std::string text = what_of(rep.error); !retry(r, text, rep.at))
                    make_final(r, job_state::failed, std::move(rep.error), std::move(text), rep.at);
                break;
            case status_kind::timed_out:
                if (rep.ran && retry(r, "timed out", rep.at)) break;
                make_final(r, job_state::timed_out, ended_error(dispatcher_errc::job_timed_out, r.info.id, "timed out"),
                           rep.ran ? "timed out" : "timed out before it started", rep.at);
                break;
            default:
                make_final(r, job_state::cancelled, ended_error(dispatcher_errc::job_cancelled, r.info.id, "was cancelled"),
                           rep.ran ? "cancelled while running" : "cancelled before it ran", rep.at);
                break;
        }
    }

    // ---- supervision ----

    /// A worker died: settle its job, then replace it (balance() does, as
    /// for any missing worker) unless past the restart intensity.
    void on_death(const status_report& rep) {
        auto it = workers.find(rep.worker);
        worker_rec w = std::move(it->second);
        workers.erase(it);
        const job_id held = w.job;
        job_back(w);
        if (!w.quitting) --live;
        if (w.blocked) --blocked;
        ++totals.worker_deaths;
        emit_worker(dispatcher_event::kind::worker_died, rep.worker, what_of(rep.error));
        if (held != 0) settle_orphan(*store->find(held), rep);
        if (w.quitting || ph == phase::stopping) return;  // it was going anyway: nothing to replace
        // OTP's intensity: at most max_restarts restarts in any restart_period.
        while (!restarts.empty() && rep.at - restarts.front() > s->restart_period) restarts.pop_front();
        if (restarts.size() >= s->max_restarts) {
            give_up(rep);
            return;
        }
        restarts.push_back(rep.at);
        ++totals.worker_restarts;
    }

    /// The job a dead worker held: never lost, never run twice unless its
    /// retries say so.
    void settle_orphan(job_record& r, const status_report& rep) {
        const std::string why = "worker " + std::to_string(rep.worker) + " died: " + what_of(rep.error);
        if (r.cancel_requested) {
            make_final(r, job_state::cancelled, ended_error(dispatcher_errc::job_cancelled, r.info.id, "was cancelled"),
                       "cancelled; " + why, rep.at);
        } else if (r.info.state != job_state::running) {
            // Died before the start: the job never ran. Back in the queue,
            // as a retry due now (no attempt counted).
            r.handed = false;
            r.info.state = job_state::retrying;
            r.info.error = why;
            r.due = rep.at;
            store->schedule(r);
            emit(r);
        } else if (!retry(r, why, rep.at)) {  // it ran: a failed attempt
            make_final(r, job_state::failed,
                       ended_error(dispatcher_errc::worker_died, r.info.id, ("lost its worker: " + why).c_str()), why,
                       rep.at);
        }
    }

    /// Past the restart intensity: no more restarts; shut down now so
    /// every job still gets its final state (as an OTP supervisor exits).
    void give_up(const status_report& rep) {
        totals.gave_up = true;
        emit_worker(dispatcher_event::kind::supervisor_gave_up, rep.worker,
                    "more than " + std::to_string(s->max_restarts) + " worker restarts within the restart period");
        begin_shutdown(true);
    }

    // ---- control messages ----

    void on(query_msg& m) {
        std::optional<job_info> out;
        if (const job_record* r = store->find(m.id)) {
            out = r->info;
            out->as_of = clock::now();
        }
        m.reply.send(std::move(out));
    }

    void on(cancel_msg& m) {
        std::optional<cancel_result> out;
        if (job_record* r = store->find(m.id)) out = request_cancel(*r);
        m.reply.send(out);
    }

    void on(add_workers_msg& m) {
        std::vector<worker_id> ids;
        if (ph != phase::stopping) {
            target += m.n;
            const worker_id first = next_worker;
            balance();
            for (worker_id id = first; id < next_worker && ids.size() < m.n; ++id) ids.push_back(id);
        }
        m.reply.send(std::move(ids));
    }

    void on(quit_worker_msg& m) {
        auto it = workers.find(m.id);
        const bool ok = it != workers.end() && !it->second.quitting;
        if (ok) {
            if (target > 0) --target;
            tell_quit(m.id, it->second, m.now);
        }
        m.reply.send(ok);
    }

    void on(quit_all_msg& m) {
        std::size_t n = 0;
        for (auto& [id, w] : workers)
            if (!w.quitting) {
                tell_quit(id, w, m.now);
                ++n;
            }
        target = 0;
        m.reply.send(n);
    }

    void on(list_workers_msg& m) {
        std::vector<worker_id> ids;
        for (auto& [id, w] : workers)
            if (!w.quitting) ids.push_back(id);
        m.reply.send(std::move(ids));
    }

    void on(wait_all_msg& m) { waiters.push_back(std::move(m)); }

    void on(shutdown_msg& m) {
        if (ph != phase::running) {
            // A shutdown has begun. Now after graceful is the escalation
            // (shutdown(now) while a graceful one runs, or its timeout);
            // anything else from shutdown() is a second shutdown: refused.
            const bool escalation = m.now && !now_begun;
            if (escalation) stop_now();
            m.reply.send(!m.first || escalation);
            return;
        }
        begin_shutdown(m.now);
        m.reply.send(true);
    }

    void begin_shutdown(bool now) {
        s->intake.close();  // later submits fail; what is buffered still comes (intake -> nil when drained)
        if (!s->slots.is_nil()) s->slots.close();  // blocked submitters fail; tokens in it still come out
        drain_intake();
        ph = phase::draining;
        if (now) stop_now();
    }

    void on(blocked_msg& m) {
        auto it = workers.find(m.worker);
        if (it == workers.end()) return;
        const bool b = m.delta > 0;
        if (it->second.blocked == b) return;
        it->second.blocked = b;
        if (b) ++blocked;
        else --blocked;
    }

    void on(unique_submit_msg& m) {
        std::shared_ptr<job_core> holder;
        bool ours = false;
        if (ph == phase::running) {
            auto [it, fresh] = unique_keys.try_emplace(m.sub.unique_key(), m.sub.core->id);
            if (fresh) {
                holder = m.sub.core;
                ours = true;
                take(std::move(m.sub));
            } else {
                holder = store->find(it->second)->core;  // open: it still has its core (make_final frees the key first)
            }
        }
        if (!ours && m.sub.holds_slot) s->slots.try_recv();  // not queued: its submitter's token comes out
        m.reply.send(std::move(holder));
    }

    void on(group_wait_msg& m) {
        group_rec& g = groups[m.group];  // intake drained first (invariant 7): its jobs are counted
        if (g.open == 0) m.reply.send(g.first);
        else g.waiters.push_back(std::move(m.reply));
    }

    void on(group_forget_msg& m) { groups.erase(m.group); }

    void on(metrics_msg& m) { m.reply.send(metrics()); }

    static chan<dispatcher_event> make_events() { return chan<dispatcher_event>(1024); }

    void on(events_msg& m) {
        if (events.is_nil()) events = make_events();
        m.reply.send(events);
    }

    dispatcher_metrics metrics() const {
        dispatcher_metrics m = totals;
        for (const auto& [id, w] : workers) {
            if (w.job != 0) ++m.running;
            if (w.quitting) continue;
            ++m.workers;
            if (w.job != 0) ++m.busy;
            if (w.idle) ++m.idle;
        }
        m.queued = store->queued();
        m.waiting = unfinished - m.queued - m.running;
        const double secs = std::chrono::duration<double>(clock::now() - started_at).count();
        const std::uint64_t finished = m.succeeded + m.failed + m.cancelled + m.timed_out;
        m.finished_per_second = secs > 0 ? static_cast<double>(finished) / secs : 0;
        std::vector<clock::duration> times(run_times.begin(),
                                           run_times.begin() + static_cast<std::ptrdiff_t>(std::min(run_times_n, run_times.size())));
        if (!times.empty()) {
            auto at = [&times](double q) {
                auto nth = times.begin() + static_cast<std::ptrdiff_t>(q * static_cast<double>(times.size() - 1));
                std::nth_element(times.begin(), nth, times.end());
                return *nth;
            };
            m.run_time_p50 = at(0.50);
            m.run_time_p99 = at(0.99);
        }
        return m;
    }

    void stop_now() {
        now_begun = true;
        if (ph == phase::stopping) return;
        ph = phase::stopping;
        drain_intake();
        store->for_each([this](job_record& r) {
            if (!is_final(r.info.state)) request_cancel(r);
        });
    }

    // ---- after every event ----

    /// True if jobs were handed to workers and more are queued.
    bool after_event() {
        if (const auto due = store->next_due(); due && *due <= clock::now())
            store->promote_due(clock::now(), [this](job_record& r) { emit(r); });
        const bool handed = dispatch();
        arm_wake();
        // A graceful shutdown is done once nothing can come and nothing is open.
        if (ph == phase::draining && intake.is_nil() && unfinished == 0) ph = phase::stopping;
        balance();
        answer_waiters();
        return handed && store->queued() > 0;
    }

    /// Keeps the wake timer set for the earliest due job (a fired timer has
    /// reset wake_at, so it is set again).
    void arm_wake() {
        const std::optional<clock::time_point> due = store->next_due();
        if (due == wake_at) return;
        wake_at = due;
        if (due) wake->reset(std::max(*due - clock::now(), clock::duration::zero()));
        else wake->stop();
    }

    void answer_waiters() {
        std::erase_if(waiters, [this](wait_all_msg& w) {
            std::size_t open = unfinished;
            if (w.except != 0)
                if (const job_record* r = store->find(w.except); r && !is_final(r->info.state)) --open;
            if (open != 0) return false;
            w.reply.send(unit{});
            return true;
        });
    }
};

void start_loop(std::shared_ptr<dispatcher_state> s, std::unique_ptr<job_store> store, std::size_t workers) {
    go(dispatcher_loop{std::move(s), std::move(store), workers});
}

}  // namespace csp::detail
