// The session goroutine (see session.hpp): the protocol's ops, the tasks it
// accepted, and the event stream.
//
// Invariants:
// 1. Only the session goroutine touches `tasks_`; the queue is reached
//    through its own (thread-safe) calls, which never block a scheduler
//    thread (task_queue runs store calls on the blocking pool).
// 2. A task is in `tasks_` from the moment submit returns, before the
//    session can receive any event of it (it receives events only between
//    requests); its `queued` (or `scheduled`) event is written right after
//    the answer.
// 3. Each task's final event is written once (`final_written`): by the
//    queue's event (a task this process ran), by the session when a cancel
//    ends a waiting task at once, or, after the queue stopped, from the
//    store's record for a task whose event was dropped.
// 4. The queue shuts down once: now at once (after cancelling every open
//    task of the session); graceful only when every task the session
//    accepted is final, so "finish what is queued" holds for a shared store.
//    On a shared store another process may run some of them: this one
//    never gets their events, so while a graceful stop waits it asks the
//    store (every recheck_pause and more, see recheck_store) about the
//    accepted tasks it has not seen end, and writes their final events
//    from the records (invariant 3).
#include "session.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <limits>
#include <map>
#include <optional>
#include <vector>

#include <chan/select.hpp>
#include <chan/time.hpp>
#include <fiber/go.hpp>

#include "protocol.hpp"
#include "tasks.hpp"

namespace jobqueue {

namespace {

using clock = std::chrono::steady_clock;
constexpr std::int64_t max_id = std::numeric_limits<std::int64_t>::max();
constexpr std::size_t max_listed = 100000;
constexpr auto recheck_pause = std::chrono::milliseconds(50);  // invariant 4

/// What this session knows of a task beyond the store's record.
struct task_rec {
    std::string task;
    std::string name;
    csp::job_state seen = csp::job_state::queued;  // as the events written so far say
    unsigned attempts = 0;
    csp::worker_id worker = 0;
    bool accepted = false;  // submitted in this session (not seen from the store only)
    bool final_written = false;
};

enum class stopping : unsigned char { no, graceful, now };

/// Wall-clock times as UTC text: "2026-11-23T19:42:29.123Z"; null for none.
json format_time(csp::wall_clock::time_point t) {
    if (t == csp::wall_clock::time_point{}) return nullptr;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    const std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char out[40];
    std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms % 1000));
    return out;
}

template <class D>
double to_ms(D d) {
    return static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(d).count()) / 1000.0;
}

/// Stored JSON text (a result, a payload) as a value; text that does not
/// parse (damaged in the store) comes back as a string.
json parse_text(const std::string& text) {
    if (text.empty()) return nullptr;
    try {
        return parse_value(text, max_depth + 4);  // a result or payload holds a request's value
    } catch (const std::exception&) {
        return text;
    }
}

std::optional<csp::job_state> state_of(const std::string& s) {
    for (auto st : {csp::job_state::queued, csp::job_state::scheduled, csp::job_state::running, csp::job_state::retrying,
                    csp::job_state::succeeded, csp::job_state::failed, csp::job_state::cancelled, csp::job_state::timed_out})
        if (s == csp::to_string(st)) return st;
    return std::nullopt;
}

csp::job_priority priority_of(const std::string& p) {
    if (p == "high") return csp::job_priority::high;
    if (p == "normal") return csp::job_priority::normal;
    if (p == "low") return csp::job_priority::low;
    throw request_error("bad_request", "priority must be \"high\", \"normal\" or \"low\"");
}

class session {
public:
    session(csp::task_queue& q, csp::send_chan<std::string> out, session_options opts)
        : q_(q), out_(std::move(out)), opts_(opts), events_(q.events()) {}

    void serve(csp::recv_chan<input_line> lines, csp::recv_chan<csp::unit> broken) {
        bool events_open = true;
        while (events_open) {
            csp::select(csp::case_recv(lines,
                                       [&](std::optional<input_line> l) {
                                           if (l) return handle(*l);
                                           lines = csp::chan<input_line>::nil();
                                           if (stop_ == stopping::no) begin_shutdown(stopping::graceful);  // end of input
                                       }),
                        csp::case_recv(events_,
                                       [&](std::optional<csp::task_event> e) {
                                           if (e) on_event(*e);
                                           else events_open = false;
                                       }),
                        csp::case_recv(recheck_,
                                       [&](std::optional<csp::time_point>) {
                                           recheck_ = csp::chan<csp::time_point>::nil();
                                           recheck_store();
                                       }),
                        csp::case_recv(broken, [&](std::optional<csp::unit>) {
                            // Nobody hears us any more: stop reading, cancel everything.
                            broken = csp::chan<csp::unit>::nil();
                            lines = csp::chan<input_line>::nil();
                            if (stop_ != stopping::now) begin_shutdown(stopping::now);
                        }));
        }
        // Invariant 3: final states whose events were dropped at the stop.
        for (auto& [id, t] : tasks_)
            if (!t.final_written)
                if (auto r = q_.status(id); r && csp::is_final(r->state)) out_.send(to_line(final_event_json(id, t, *r)));
        for (auto& done : stoppers_) done.recv();  // every q.shutdown() has returned: q may go
    }

private:
    // ---- requests ----

    void handle(const input_line& l) {
        json req = json::object();
        json answer;
        std::optional<json> after;  // an event that follows the answer
        try {
            if (l.too_long)
                throw request_error("bad_request", "line longer than " + std::to_string(opts_.max_line) + " bytes");
            req = parse_request(l.text);
            answer = dispatch(req, after);
        } catch (const request_error& e) {
            answer = error_answer(req, e.code, e.what());
        } catch (const std::exception& e) {  // a safety net: no request ends the session
            answer = error_answer(req, "bad_request", e.what());
        }
        out_.send(to_line(answer));
        if (after) out_.send(to_line(*after));
        maybe_finish_graceful();
    }

    json dispatch(const json& req, std::optional<json>& after) {
        const std::string op = get_string(req, "op");
        if (op == "submit") return submit(req, after);
        if (op == "status") return status(req);
        if (op == "cancel") return cancel(req, after);
        if (op == "list") return list(req);
        if (op == "stats") return stats(req);
        if (op == "workers") return workers(req);
        if (op == "quit_worker") return quit_worker(req);
        if (op == "shutdown") return shutdown(req);
        throw request_error("unknown_op",
                            "unknown op \"" + op.substr(0, 100) +
                                "\" (submit, status, cancel, list, stats, workers, quit_worker, shutdown)");
    }

    json submit(const json& req, std::optional<json>& after) {
        if (stop_ != stopping::no) throw request_error("shutting_down", "shutting down: no new tasks");
        const std::string task = get_string(req, "task");
        const json args = get_object(req, "args");
        make_task(task, args);  // checks the task and its args now: the answer says what is wrong
        csp::task_options o;
        const std::string name = get_string(req, "name", task);
        o.timeout = std::chrono::milliseconds(get_int(req, "timeout_ms", 0, max_ms, 0));
        o.retries = static_cast<unsigned>(get_int(req, "retries", 0, 100, 0));
        const auto backoff_ms = get_int(req, "backoff_ms", 0, max_ms, 100);
        o.priority = priority_of(get_string(req, "priority", "normal"));
        o.delay = std::chrono::milliseconds(get_int(req, "delay_ms", 0, max_ms, 0));
        o.unique_key = get_string(req, "unique_key", "");
        csp::enqueue_result r;
        try {
            r = q_.submit_text(task, to_line(task_payload(args, name, backoff_ms)), o);
        } catch (const csp::dispatcher_error&) {
            throw request_error("shutting_down", "shutting down: no new tasks");
        }
        json a = ok_answer(req);
        a["task_id"] = r.id;
        if (r.existed) {
            // The open task with this key: this submit is that task.
            a["duplicate"] = true;
            return a;
        }
        task_rec& t = tasks_[r.id];  // invariant 2
        t.task = task;
        t.name = name;
        t.seen = o.delay.count() > 0 ? csp::job_state::scheduled : csp::job_state::queued;
        t.accepted = true;
        ++submitted_;
        ++open_accepted_;
        after = task_event_json(r.id, t);
        return a;
    }

    csp::task_id task_id_of(const json& req) { return static_cast<csp::task_id>(get_int(req, "task_id", 1, max_id)); }

    csp::task_record find_record(csp::task_id id) {
        auto r = q_.status(id);
        if (!r) throw request_error("not_found", "no task " + std::to_string(id));
        return *r;
    }

    /// A task as status and list show it: the store's record (any
    /// process's task), with what this session saw of it.
    json describe(const csp::task_record& r) {
        std::string name = r.type;
        json worker = nullptr;
        if (auto it = tasks_.find(r.id); it != tasks_.end()) {
            name = it->second.name;
            if (it->second.worker != 0) worker = it->second.worker;
        } else if (auto p = parse_text(r.payload); p.is_object() && p.contains("name") && p["name"].is_string()) {
            name = p["name"].get<std::string>();
        }
        const bool started = r.started != csp::wall_clock::time_point{};
        const bool finished = r.finished != csp::wall_clock::time_point{} && csp::is_final(r.state);
        const auto run = !started ? csp::wall_clock::duration{}
                                  : (finished ? r.finished : csp::wall_clock::now()) - r.started;
        return {{"task_id", r.id},
                {"task", r.type},
                {"name", name},
                {"state", csp::to_string(r.state)},
                {"attempts", r.attempts},
                {"worker", worker},
                {"submitted_at", format_time(r.submitted)},
                {"started_at", started ? format_time(r.started) : json(nullptr)},
                {"finished_at", finished ? format_time(r.finished) : json(nullptr)},
                {"run_ms", to_ms(run)},
                {"result", r.state == csp::job_state::succeeded ? parse_text(r.result) : json(nullptr)},
                {"error", r.error.empty() || r.state == csp::job_state::succeeded ? json(nullptr) : json(r.error)}};
    }

    json status(const json& req) {
        json a = ok_answer(req);
        a["task"] = describe(find_record(task_id_of(req)));
        return a;
    }

    json cancel(const json& req, std::optional<json>& after) {
        const csp::task_id id = task_id_of(req);
        const auto r = q_.cancel(id);
        if (!r) throw request_error("not_found", "no task " + std::to_string(id));
        json a = ok_answer(req);
        a["task_id"] = id;
        a["cancel"] = csp::to_string(*r);
        // Invariant 3: a waiting task ended now; no worker will report it.
        if (*r == csp::cancel_result::cancelled)
            if (auto it = tasks_.find(id); it != tasks_.end() && !it->second.final_written)
                after = final_event_json(id, it->second, find_record(id));
        return a;
    }

    json list(const json& req) {
        const std::string only = get_string(req, "state", "");
        std::optional<csp::job_state> st;
        if (!only.empty()) {
            st = state_of(only);
            if (!st) throw request_error("bad_request", "state must be one of queued, scheduled, running, retrying, "
                                                        "succeeded, failed, cancelled, timed_out");
        }
        auto records = q_.list(max_listed, st);
        json all = json::array();
        for (auto it = records.rbegin(); it != records.rend(); ++it) all.push_back(describe(*it));  // oldest first
        json a = ok_answer(req);
        a["tasks"] = std::move(all);
        return a;
    }

    json stats(const json& req) {
        const csp::queue_stats s = q_.stats();
        const csp::task_queue_metrics m = q_.metrics();
        json a = ok_answer(req);
        a["stats"] = {{"tasks",
                       {{"queued", s.queued},
                        {"scheduled", s.scheduled},
                        {"running", s.running},
                        {"retrying", s.retrying},
                        {"succeeded", s.succeeded},
                        {"failed", s.failed},
                        {"cancelled", s.cancelled},
                        {"timed_out", s.timed_out}}},
                      {"submitted", submitted_},
                      {"retries", m.retries},
                      {"workers", {{"total", m.local.workers}, {"busy", m.local.busy}, {"idle", m.local.idle}}},
                      {"throughput_per_s", m.local.finished_per_second},
                      {"run_ms_p50", to_ms(m.local.run_time_p50)},
                      {"run_ms_p99", to_ms(m.local.run_time_p99)}};
        return a;
    }

    json workers(const json& req) {
        json a = ok_answer(req);
        if (req.contains("add")) {
            const auto n = static_cast<std::size_t>(get_int(req, "add", 1, static_cast<std::int64_t>(opts_.max_workers)));
            if (q_.workers().size() + n > opts_.max_workers)
                throw request_error("bad_request", "add would exceed " + std::to_string(opts_.max_workers) + " workers");
            try {
                a["added"] = q_.add_workers(n);
            } catch (const csp::dispatcher_error&) {
                throw request_error("shutting_down", "shutting down: no new workers");
            }
        }
        a["workers"] = q_.workers();
        return a;
    }

    json quit_worker(const json& req) {
        const auto id = static_cast<csp::worker_id>(get_int(req, "worker_id", 1, max_id));
        const std::string mode = get_string(req, "mode", "graceful");
        if (mode != "graceful" && mode != "now") throw request_error("bad_request", "mode must be \"graceful\" or \"now\"");
        try {
            q_.quit_worker(id, mode == "now" ? csp::stop_mode::now : csp::stop_mode::graceful);
        } catch (const csp::dispatcher_error&) {
            throw request_error("not_found", "no live worker " + std::to_string(id));
        }
        json a = ok_answer(req);
        a["worker_id"] = id;
        return a;
    }

    json shutdown(const json& req) {
        const std::string mode = get_string(req, "mode", "graceful");
        if (mode != "graceful" && mode != "now") throw request_error("bad_request", "mode must be \"graceful\" or \"now\"");
        const stopping want = mode == "now" ? stopping::now : stopping::graceful;
        if (stop_ >= want) throw request_error("shutting_down", "already shutting down");
        begin_shutdown(want);
        json a = ok_answer(req);
        a["shutdown"] = mode;
        return a;
    }

    /// Starts a shutdown, or turns a graceful one into `now` (invariant 4).
    /// The session carries on answering until the queue stops.
    void begin_shutdown(stopping how) {
        stop_ = how;
        if (how == stopping::now) {
            // Waiting tasks end cancelled here and now; running ones when
            // the queue's shutdown cancels them.
            for (auto& [id, t] : tasks_)
                if (!t.final_written)
                    if (auto r = q_.cancel(id); r == csp::cancel_result::cancelled)
                        if (auto rec = q_.status(id)) out_.send(to_line(final_event_json(id, t, *rec)));
            return stop_queue(csp::stop_mode::now);
        }
        // "Finish what is queued" needs a worker: if the client quit them all, lend one.
        if (q_.workers().empty()) {
            try {
                q_.add_workers(1);
            } catch (const csp::dispatcher_error&) {
            }
        }
        maybe_finish_graceful();
    }

    void maybe_finish_graceful() {
        if (stop_ != stopping::graceful || queue_stopping_) return;
        if (open_accepted_ == 0) return stop_queue(csp::stop_mode::graceful);
        if (!recheck_armed_) {  // invariant 4: ask the store again later
            recheck_armed_ = true;
            recheck_ = csp::after(recheck_pause + 4 * last_recheck_);
        }
    }

    /// Invariant 4: final events, from the store, of accepted tasks that
    /// another process ran. A task running on this process's worker is
    /// left to its event. The pause grows with the time a pass takes, so
    /// many open tasks do not keep the session busy asking.
    void recheck_store() {
        recheck_armed_ = false;
        const auto start = clock::now();
        for (auto& [id, t] : tasks_) {
            if (!t.accepted || t.final_written || (t.seen == csp::job_state::running && t.worker != 0)) continue;
            if (auto r = q_.status(id); r && csp::is_final(r->state)) out_.send(to_line(final_event_json(id, t, *r)));
        }
        last_recheck_ = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start);
        maybe_finish_graceful();
    }

    void stop_queue(csp::stop_mode m) {
        queue_stopping_ = true;
        // shutdown() blocks until the queue stops; the session must not. A
        // second one (now after graceful) escalates the first; both return
        // once stopped, and serve() waits for both before q may go.
        csp::chan<csp::unit> done;
        stoppers_.push_back(done);
        csp::go([&q = q_, done, m] {
            q.shutdown(m);
            done.close();
        });
    }

    // ---- events ----

    json task_event_json(csp::task_id id, const task_rec& t) const {
        return {{"event", "task"},
                {"task_id", id},
                {"state", csp::to_string(t.seen)},
                {"attempt", t.attempts},
                {"worker", t.worker == 0 ? json(nullptr) : json(t.worker)}};
    }

    /// The final event of a task from its stored record (invariant 3).
    json final_event_json(csp::task_id id, task_rec& t, const csp::task_record& r) {
        t.seen = r.state;
        mark_final(t);
        if (r.attempts > t.attempts) t.attempts = r.attempts;
        json ev = task_event_json(id, t);
        if (r.state == csp::job_state::succeeded) ev["result"] = parse_text(r.result);
        else ev["error"] = r.error.empty() ? std::string(csp::to_string(r.state)) : r.error;
        return ev;
    }

    void on_event(const csp::task_event& e) {
        using kind = csp::task_event::kind;
        if (e.what != kind::job) {
            json ev = {{"event", "worker"}, {"worker_id", e.worker}, {"state", worker_state(e.what)}};
            if (e.what == kind::worker_died || e.what == kind::supervisor_gave_up) ev["error"] = e.error;
            if (e.what == kind::supervisor_gave_up) ev.erase("worker_id");
            out_.send(to_line(ev));
            return;
        }
        // A task of another session (an earlier run on the same store, or
        // a task submitted elsewhere) is reported as well.
        task_rec& t = tasks_[e.id];
        if (t.task.empty()) t.task = e.type;
        if (t.final_written) return;
        if (e.state == csp::job_state::running) {
            // Its wait in the store ended: a scheduled or retrying task is
            // queued before it runs.
            if (t.seen == csp::job_state::scheduled || t.seen == csp::job_state::retrying) {
                t.seen = csp::job_state::queued;
                out_.send(to_line(task_event_json(e.id, t)));
            }
            t.worker = e.worker;
        }
        t.attempts = e.attempt;
        t.seen = e.state;
        json ev = task_event_json(e.id, t);
        if (e.state == csp::job_state::succeeded) ev["result"] = parse_text(e.result);
        else if (csp::is_final(e.state) || e.state == csp::job_state::retrying) ev["error"] = e.error;
        if (csp::is_final(e.state)) mark_final(t);
        out_.send(to_line(ev));
        maybe_finish_graceful();
    }

    void mark_final(task_rec& t) {
        t.final_written = true;
        if (t.accepted) --open_accepted_;
    }

    static const char* worker_state(csp::task_event::kind k) {
        switch (k) {
            case csp::task_event::kind::worker_started: return "started";
            case csp::task_event::kind::worker_quit: return "quit";
            case csp::task_event::kind::worker_died: return "died";
            case csp::task_event::kind::supervisor_gave_up: return "gave_up";
            case csp::task_event::kind::job: break;
        }
        return "unknown";
    }

    csp::task_queue& q_;
    csp::send_chan<std::string> out_;
    session_options opts_;
    csp::recv_chan<csp::task_event> events_;  // the queue's, from its start: no event is missed
    std::map<csp::task_id, task_rec> tasks_;
    std::uint64_t submitted_ = 0;
    std::size_t open_accepted_ = 0;  // accepted here, final event not written yet
    stopping stop_ = stopping::no;
    bool queue_stopping_ = false;
    csp::recv_chan<csp::time_point> recheck_ = csp::chan<csp::time_point>::nil();  // invariant 4: the next look at the store
    bool recheck_armed_ = false;
    std::chrono::milliseconds last_recheck_{0};  // how long the last look took
    std::vector<csp::chan<csp::unit>> stoppers_;  // each closed when its q.shutdown() returned
};

}  // namespace

void run_session(csp::task_queue& q, csp::recv_chan<input_line> lines, csp::send_chan<std::string> out,
                 csp::recv_chan<csp::unit> broken, session_options opts) {
    session s(q, std::move(out), opts);
    s.serve(std::move(lines), std::move(broken));
}

}  // namespace jobqueue
