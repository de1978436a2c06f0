// The session goroutine (see session.hpp): the protocol's ops, the table of
// tasks it accepted, and the event stream.
//
// Invariants:
// 1. Only the session goroutine touches `tasks` and `unique`; the
//    dispatcher is reached through its own (thread-safe) calls.
// 2. A task is in `tasks` from the moment submit() returns, before the
//    session can receive any event of it (it receives events only between
//    requests).
// 3. Each task's final event is written once: `final_written` guards it, and
//    after the dispatcher stops every task without one gets it from the
//    dispatcher's frozen table (events the dispatcher dropped at its stop).
#include "session.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <limits>
#include <map>
#include <optional>

#include <chan/select.hpp>
#include <fiber/go.hpp>

#include "protocol.hpp"
#include "tasks.hpp"

namespace jobqueue {

namespace {

using clock = std::chrono::steady_clock;
constexpr std::int64_t max_id = std::numeric_limits<std::int64_t>::max();

struct task_rec {
    std::string task;
    csp::job_handle<json> handle;
    std::string unique_key;  // empty: none
    csp::job_state seen = csp::job_state::queued;  // as the events written so far say
    unsigned attempts = 0;    // running events seen
    csp::worker_id worker = 0;
    bool final_written = false;
};

enum class stopping : unsigned char { no, graceful, now };

/// Steady-clock times as UTC wall-clock text: "2026-11-23T19:42:29.123Z".
class wall_clock {
public:
    json format(clock::time_point t) const {
        if (t == clock::time_point{}) return nullptr;
        const auto sys = sys0_ + std::chrono::duration_cast<std::chrono::system_clock::duration>(t - steady0_);
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(sys.time_since_epoch()).count();
        const std::time_t secs = static_cast<std::time_t>(ms / 1000);
        std::tm tm{};
        gmtime_r(&secs, &tm);
        char buf[32];
        std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
        char out[40];
        std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms % 1000));
        return out;
    }

private:
    clock::time_point steady0_ = clock::now();
    std::chrono::system_clock::time_point sys0_ = std::chrono::system_clock::now();
};

double to_ms(clock::duration d) {
    return static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(d).count()) / 1000.0;
}

csp::job_priority priority_of(const std::string& p) {
    if (p == "high") return csp::job_priority::high;
    if (p == "normal") return csp::job_priority::normal;
    if (p == "low") return csp::job_priority::low;
    throw request_error("bad_request", "priority must be \"high\", \"normal\" or \"low\"");
}

/// The delay before the n-th retry: backoff, doubled each time, at most a minute.
std::function<clock::duration(unsigned)> doubling(std::chrono::milliseconds base) {
    return [base](unsigned n) -> clock::duration {
        const auto cap = std::chrono::milliseconds(60'000);
        auto d = base;
        for (unsigned i = 1; i < n && d < cap; ++i) d *= 2;
        return std::min<clock::duration>(d, cap);
    };
}

class session {
public:
    session(csp::dispatcher& d, csp::send_chan<std::string> out, session_options opts)
        : d_(d), out_(std::move(out)), opts_(opts), events_(d.events()) {
        // Started after subscribing, so their "started" events are written too.
        if (opts_.workers > 0) d_.add_workers(opts_.workers);
    }

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
                                       [&](std::optional<csp::dispatcher_event> e) {
                                           if (e) on_event(*e);
                                           else events_open = false;
                                       }),
                        csp::case_recv(broken, [&](std::optional<csp::unit>) {
                            // Nobody hears us any more: stop reading, cancel everything.
                            broken = csp::chan<csp::unit>::nil();
                            lines = csp::chan<input_line>::nil();
                            if (stop_ != stopping::now) begin_shutdown(stopping::now);
                        }));
        }
        // Invariant 3: final events the dispatcher dropped when it stopped.
        for (auto& [id, t] : tasks_)
            if (!t.final_written) {
                const csp::job_info i = d_.info(id);
                if (csp::is_final(i.state))
                    on_event(csp::dispatcher_event{csp::dispatcher_event::kind::job, id, i.worker, i.state, i.finished, i.error});
            }
        if (!stopper_done_.is_nil()) stopper_done_.recv();  // d.shutdown() has returned: d may go
    }

private:
    // ---- requests ----

    void handle(const input_line& l) {
        json req = json::object();
        json answer;
        try {
            if (l.too_long)
                throw request_error("bad_request", "line longer than " + std::to_string(opts_.max_line) + " bytes");
            req = parse_request(l.text);
            answer = dispatch(req);
        } catch (const request_error& e) {
            answer = error_answer(req, e.code, e.what());
        } catch (const std::exception& e) {  // a safety net: no request ends the session
            answer = error_answer(req, "bad_request", e.what());
        }
        out_.send(to_line(answer));
    }

    json dispatch(const json& req) {
        const std::string op = get_string(req, "op");
        if (op == "submit") return submit(req);
        if (op == "status") return status(req);
        if (op == "cancel") return cancel(req);
        if (op == "list") return list(req);
        if (op == "stats") return stats(req);
        if (op == "workers") return workers(req);
        if (op == "quit_worker") return quit_worker(req);
        if (op == "shutdown") return shutdown(req);
        throw request_error("unknown_op",
                            "unknown op \"" + op.substr(0, 100) +
                                "\" (submit, status, cancel, list, stats, workers, quit_worker, shutdown)");
    }

    json submit(const json& req) {
        if (stop_ != stopping::no) throw request_error("shutting_down", "shutting down: no new tasks");
        const std::string task = get_string(req, "task");
        task_fn fn = make_task(task, get_object(req, "args"));
        csp::job_options o;
        o.name = get_string(req, "name", task);
        o.timeout = std::chrono::milliseconds(get_int(req, "timeout_ms", 0, max_ms, 0));
        o.retries = static_cast<unsigned>(get_int(req, "retries", 0, 100, 0));
        o.backoff = doubling(std::chrono::milliseconds(get_int(req, "backoff_ms", 0, max_ms, 100)));
        o.priority = priority_of(get_string(req, "priority", "normal"));
        const auto delay = std::chrono::milliseconds(get_int(req, "delay_ms", 0, max_ms, 0));
        if (delay.count() > 0) o.not_before = clock::now() + delay;
        const std::string key = get_string(req, "unique_key", "");
        json a = ok_answer(req);
        if (!key.empty())
            if (auto it = unique_.find(key); it != unique_.end()) {
                // The task with this key is not final yet: this submit is that task.
                a["task_id"] = it->second;
                a["duplicate"] = true;
                return a;
            }
        csp::job_handle<json> h;
        try {
            h = d_.submit(std::move(fn), std::move(o));
        } catch (const csp::dispatcher_error&) {
            throw request_error("shutting_down", "shutting down: no new tasks");
        }
        task_rec& t = tasks_[h.id()];  // invariant 2
        t.task = task;
        t.handle = h;
        t.unique_key = key;
        t.seen = delay.count() > 0 ? csp::job_state::scheduled : csp::job_state::queued;
        if (!key.empty()) unique_[key] = h.id();
        a["task_id"] = h.id();
        return a;
    }

    task_rec& find_task(const json& req) {
        const auto id = static_cast<csp::job_id>(get_int(req, "task_id", 1, max_id));
        auto it = tasks_.find(id);
        if (it == tasks_.end()) throw request_error("not_found", "no task " + std::to_string(id));
        return it->second;
    }

    json describe(csp::job_id id, const task_rec& t) {
        const csp::job_info i = d_.info(id);
        const bool ok = i.state == csp::job_state::succeeded && t.handle.done();
        return {{"task_id", id},
                {"task", t.task},
                {"name", i.name},
                {"state", csp::to_string(i.state)},
                {"attempts", i.attempts},
                {"worker", i.worker == 0 ? json(nullptr) : json(i.worker)},
                {"submitted_at", clock_.format(i.submitted)},
                {"started_at", clock_.format(i.started)},
                {"finished_at", clock_.format(i.finished)},
                {"run_ms", to_ms(i.run_time())},
                {"result", ok ? t.handle.get() : json(nullptr)},
                {"error", i.error.empty() ? json(nullptr) : json(i.error)}};
    }

    json status(const json& req) {
        task_rec& t = find_task(req);
        json a = ok_answer(req);
        a["task"] = describe(t.handle.id(), t);
        return a;
    }

    json cancel(const json& req) {
        task_rec& t = find_task(req);
        json a = ok_answer(req);
        a["task_id"] = t.handle.id();
        a["cancel"] = csp::to_string(d_.cancel(t.handle.id()));
        return a;
    }

    json list(const json& req) {
        const std::string only = get_string(req, "state", "");
        json all = json::array();
        for (const auto& [id, t] : tasks_) {
            json one = describe(id, t);
            if (only.empty() || one["state"] == only) all.push_back(std::move(one));
        }
        json a = ok_answer(req);
        a["tasks"] = std::move(all);
        return a;
    }

    json stats(const json& req) {
        json by_state = json::object();
        for (auto s : {csp::job_state::queued, csp::job_state::scheduled, csp::job_state::running, csp::job_state::retrying,
                       csp::job_state::succeeded, csp::job_state::failed, csp::job_state::cancelled, csp::job_state::timed_out})
            by_state[csp::to_string(s)] = 0;
        for (const auto& [id, t] : tasks_) by_state[csp::to_string(t.seen)] = by_state[csp::to_string(t.seen)].get<int>() + 1;
        const csp::dispatcher_metrics m = d_.metrics();
        json a = ok_answer(req);
        a["stats"] = {{"tasks", by_state},
                      {"submitted", m.submitted},
                      {"retries", m.retries},
                      {"workers", {{"total", m.workers}, {"busy", m.busy}, {"idle", m.idle}}},
                      {"throughput_per_s", m.finished_per_second},
                      {"run_ms_p50", to_ms(m.run_time_p50)},
                      {"run_ms_p99", to_ms(m.run_time_p99)}};
        return a;
    }

    json workers(const json& req) {
        json a = ok_answer(req);
        if (req.contains("add")) {
            const auto n = static_cast<std::size_t>(get_int(req, "add", 1, static_cast<std::int64_t>(opts_.max_workers)));
            if (d_.workers().size() + n > opts_.max_workers)
                throw request_error("bad_request", "add would exceed " + std::to_string(opts_.max_workers) + " workers");
            try {
                a["added"] = d_.add_workers(n);
            } catch (const csp::dispatcher_error&) {
                throw request_error("shutting_down", "shutting down: no new workers");
            }
        }
        a["workers"] = d_.workers();
        return a;
    }

    json quit_worker(const json& req) {
        const auto id = static_cast<csp::worker_id>(get_int(req, "worker_id", 1, max_id));
        const std::string mode = get_string(req, "mode", "graceful");
        if (mode != "graceful" && mode != "now") throw request_error("bad_request", "mode must be \"graceful\" or \"now\"");
        try {
            d_.quit_worker(id, mode == "now" ? csp::stop_mode::now : csp::stop_mode::graceful);
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

    /// Starts a shutdown, or turns a graceful one into `now`. The session
    /// carries on answering until the dispatcher stops.
    void begin_shutdown(stopping how) {
        if (how == stopping::now && stop_ == stopping::graceful) {
            // The dispatcher shuts down once; cancelling every open task
            // is what `now` adds to a graceful shutdown under way.
            stop_ = how;
            for (auto& [id, t] : tasks_)
                if (!t.final_written) d_.cancel(id);
            return;
        }
        stop_ = how;
        // "Finish what is queued" needs a worker: if the client quit them all, lend one.
        if (how == stopping::graceful && d_.workers().empty()) {
            try {
                d_.add_workers(1);
            } catch (const csp::dispatcher_error&) {
            }
        }
        stopper_done_ = csp::chan<csp::unit>();
        // shutdown() blocks until the dispatcher stops; the session must not.
        csp::go([&d = d_, done = stopper_done_, m = how == stopping::now ? csp::stop_mode::now : csp::stop_mode::graceful] {
            d.shutdown(m);
            done.close();
        });
    }

    // ---- events ----

    void on_event(const csp::dispatcher_event& e) {
        if (e.what != csp::dispatcher_event::kind::job) {
            out_.send(to_line({{"event", "worker"},
                               {"worker_id", e.worker},
                               {"state", e.what == csp::dispatcher_event::kind::worker_started ? "started" : "quit"}}));
            return;
        }
        auto it = tasks_.find(e.job);
        if (it == tasks_.end() || it->second.final_written) return;
        task_rec& t = it->second;
        t.seen = e.state;
        if (e.state == csp::job_state::running) {
            ++t.attempts;
            t.worker = e.worker;
        }
        json ev = {{"event", "task"},
                   {"task_id", e.job},
                   {"state", csp::to_string(e.state)},
                   {"attempt", t.attempts},
                   {"worker", t.worker == 0 ? json(nullptr) : json(t.worker)}};
        if (e.state == csp::job_state::succeeded) ev["result"] = t.handle.get();  // done is closed before the event
        else if (csp::is_final(e.state) || e.state == csp::job_state::retrying) ev["error"] = e.error;
        if (csp::is_final(e.state)) {
            t.final_written = true;
            if (!t.unique_key.empty())
                if (auto u = unique_.find(t.unique_key); u != unique_.end() && u->second == e.job) unique_.erase(u);
        }
        out_.send(to_line(ev));
    }

    csp::dispatcher& d_;
    csp::send_chan<std::string> out_;
    session_options opts_;
    csp::recv_chan<csp::dispatcher_event> events_;  // asked for before the first submit: no event is missed
    std::map<csp::job_id, task_rec> tasks_;
    std::map<std::string, csp::job_id> unique_;  // unique_key -> its task, while not final
    stopping stop_ = stopping::no;
    csp::chan<csp::unit> stopper_done_ = csp::chan<csp::unit>::nil();  // closed when d.shutdown() returned
    wall_clock clock_;
};

}  // namespace

void run_session(csp::dispatcher& d, csp::recv_chan<input_line> lines, csp::send_chan<std::string> out,
                 csp::recv_chan<csp::unit> broken, session_options opts) {
    session s(d, std::move(out), opts);
    s.serve(std::move(lines), std::move(broken));
}

}  // namespace jobqueue
