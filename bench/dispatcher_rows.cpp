// The dispatcher rows of cspbench (bench/cspbench.cpp runs them; the Go half
// is bench/go/dispatcher.go, under the same names):
//
//   dispatcher_4, dispatcher_64     csp::dispatcher with 4 / 64 workers:
//                                   200,000 tiny jobs (each adds two numbers)
//                                   submitted from one goroutine, then
//                                   wait_all(). ns per job.
//   dispatcher_chan_4, _64          the same, on the Go program's design
//                                   ported line by line to csp::chan (below):
//                                   what our channels alone give this shape.
//   dispatcher_latency_4            submit -> start, p50 and p99 (counters
//                                   dispatcher_latency_4_p50 / _p99, ns), at
//                                   half load (see latency()).
//   dispatcher_queued_1m            resident bytes per queued job (counter
//                                   dispatcher_queued_1m): run it alone, one
//                                   process per repetition.
//
// Each registers itself with Google Benchmark at start-up, like cspbench's
// own rows: one iteration = one repetition, manual time, counters ns_per_op
// and procs. cspbench keeps --scale to itself, so it is read here from the
// command line.
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <chan/chan.hpp>
#include <chan/context.hpp>
#include <chan/select.hpp>
#include <dispatcher/dispatcher.hpp>
#include <fiber/go.hpp>

namespace {

using clk = std::chrono::steady_clock;

/// cspbench's --scale (default 1), read from /proc/self/cmdline.
double scale_flag() {
    static const double s = [] {
        std::ifstream in("/proc/self/cmdline", std::ios::binary);
        std::vector<std::string> args;
        for (std::string a; std::getline(in, a, '\0');) args.push_back(a);
        for (std::size_t i = 0; i < args.size(); ++i) {
            const char* v = nullptr;
            if (args[i].rfind("--scale=", 0) == 0) v = args[i].c_str() + 8;
            else if (args[i] == "--scale" && i + 1 < args.size()) v = args[i + 1].c_str();
            if (v && std::strtod(v, nullptr) > 0) return std::strtod(v, nullptr);
        }
        return 1.0;
    }();
    return s;
}

long scaled(long base) { return std::max(1L, static_cast<long>(static_cast<double>(base) * scale_flag())); }

double ns_between(clk::time_point a, clk::time_point b) {
    return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
}

void check(const char* what, long long got, long long want) {
    if (got == want) return;
    std::fprintf(stderr, "cspbench: %s: got %lld, want %lld\n", what, got, want);
    std::fflush(stderr);
    std::abort();
}

/// Resident bytes now (/proc/self/statm).
long long rss_bytes() {
    std::ifstream in("/proc/self/statm");
    long long pages_total = 0, pages_resident = 0;
    if (!(in >> pages_total >> pages_resident)) {
        std::fprintf(stderr, "cspbench: cannot read /proc/self/statm\n");
        std::exit(2);
    }
    return pages_resident * sysconf(_SC_PAGESIZE);
}

// ---------------------------------------------------------------------------
// The Go program's dispatcher (bench/go/dispatcher.go), ported to csp::chan
// with the same channels, messages and loop; see that file for the design.

namespace godesign {

enum class state : unsigned char { queued, running, succeeded, failed, cancelled };

struct job {
    std::int64_t id = 0;
    std::function<int()> fn;
    csp::chan<csp::unit> done;  // closed by the loop when final; result written before
    int result = 0;
};

struct record {
    std::shared_ptr<job> j;
    state st = state::queued;
    int worker = 0, attempts = 0;
    clk::time_point submitted, started, finished;
    csp::cancel_func cancel;
};

struct submission {
    std::shared_ptr<job> j;
    clk::time_point at;
};
struct work {
    std::shared_ptr<job> j;
    csp::context ctx;
};
struct registration {
    int worker = 0;
    csp::chan<work> work_ch;
};
enum class status_kind : unsigned char { started, succeeded, failed, cancelled, quit };
struct status {
    status_kind kind = status_kind::quit;
    int worker = 0;
    std::int64_t id = 0;
    clk::time_point at{};
    int result = 0;
};
struct totals {
    long long succeeded = 0, sum = 0;
};
enum class control_kind : unsigned char { wait_all, shutdown, sync };
struct control {
    control_kind kind = control_kind::wait_all;
    csp::chan<totals> reply;
};

struct shared {
    std::atomic<std::int64_t> next_id{0};
    csp::chan<submission> intake{256};
    csp::chan<registration> workers;
    csp::chan<status> status_ch;
    csp::chan<control> control_ch;
    csp::chan<csp::unit> stopped;
};

void run_job(shared& s, int worker, work w) {
    if (w.ctx.err() != csp::context_error::none) {  // cancelled before it started: never run it
        s.status_ch.send(status{status_kind::cancelled, worker, w.j->id, clk::now()});
        return;
    }
    s.status_ch.send(status{status_kind::started, worker, w.j->id, clk::now()});
    status rep{status_kind::failed, worker, w.j->id};
    try {
        rep.result = w.j->fn();
        rep.kind = status_kind::succeeded;
    } catch (...) {
    }
    rep.at = clk::now();
    s.status_ch.send(rep);
}

void worker(std::shared_ptr<shared> s, int id, csp::chan<csp::unit> quit) {
    csp::chan<work> work_ch(1);
    for (;;) {
        s->workers.send(registration{id, work_ch});
        std::optional<work> w;
        bool quitting = false;
        csp::select(csp::case_recv(work_ch, [&](std::optional<work> v) { w = std::move(v); }),
                    csp::case_recv(quit, [&] { quitting = true; }));
        if (quitting) {
            s->status_ch.send(status{status_kind::quit, id});
            return;
        }
        run_job(*s, id, std::move(*w));
    }
}

void loop(std::shared_ptr<shared> s, int nworkers) {
    std::unordered_map<std::int64_t, std::unique_ptr<record>> table;
    std::deque<record*> queue;
    std::vector<registration> idle;
    std::map<int, csp::chan<csp::unit>> quits;
    for (int id = 1; id <= nworkers; ++id) {
        quits[id] = csp::chan<csp::unit>(1);
        csp::go(worker, s, id, quits[id]);
    }
    csp::chan<submission> intake = s->intake;
    long open = 0;
    bool draining = false;
    totals tot;
    std::vector<csp::chan<totals>> waiters;

    auto take = [&](submission&& m) {
        auto r = std::make_unique<record>();
        r->j = std::move(m.j);
        r->submitted = m.at;
        queue.push_back(r.get());
        table.emplace(r->j->id, std::move(r));
        ++open;
    };
    auto drain = [&] {
        while (!intake.is_nil()) {
            csp::recv_result<submission> m = intake.try_recv();
            if (m.status == csp::chan_status::ok) take(std::move(*m));
            else if (m.status == csp::chan_status::closed) intake = csp::chan<submission>::nil();
            else return;
        }
    };
    auto finish = [&](record& r, state st, clk::time_point at) {
        r.st = st;
        r.finished = at;
        r.cancel();
        r.j->done.close();
        --open;
    };

    while (!intake.is_nil() || !quits.empty()) {
        csp::select(
            csp::case_recv(intake,
                           [&](std::optional<submission> m) {
                               if (m) take(std::move(*m));
                               else intake = csp::chan<submission>::nil();
                           }),
            csp::case_recv(s->workers,
                           [&](std::optional<registration> reg) {
                               if (draining && intake.is_nil() && open == 0) quits[reg->worker].send(csp::unit{});
                               else idle.push_back(std::move(*reg));
                           }),
            csp::case_recv(s->status_ch,
                           [&](std::optional<status> st) {
                               if (st->kind == status_kind::quit) {
                                   quits.erase(st->worker);
                                   return;
                               }
                               record& r = *table.at(st->id);
                               switch (st->kind) {
                                   case status_kind::started:
                                       r.st = state::running;
                                       r.started = st->at;
                                       ++r.attempts;
                                       break;
                                   case status_kind::succeeded:
                                       r.j->result = st->result;
                                       ++tot.succeeded;
                                       tot.sum += st->result;
                                       finish(r, state::succeeded, st->at);
                                       break;
                                   case status_kind::failed: finish(r, state::failed, st->at); break;
                                   default: finish(r, state::cancelled, st->at); break;
                               }
                           }),
            csp::case_recv(s->control_ch, [&](std::optional<control> c) {
                drain();
                if (c->kind == control_kind::sync) {
                    c->reply.send(tot);
                    return;
                }
                if (c->kind == control_kind::shutdown && !draining) {
                    draining = true;
                    s->intake.close();
                    drain();
                }
                waiters.push_back(c->reply);
            }));
        // Hand queued jobs to idle workers, oldest first.
        while (!queue.empty() && !idle.empty()) {
            record* r = queue.front();
            queue.pop_front();
            registration w = std::move(idle.back());
            idle.pop_back();
            auto [ctx, cancel] = csp::with_cancel(csp::background());
            r->cancel = std::move(cancel);
            r->worker = w.worker;
            w.work_ch.send(work{r->j, std::move(ctx)});  // capacity 1, empty: never blocks
        }
        if (open == 0) {
            for (auto& w : waiters) w.send(tot);
            waiters.clear();
            if (draining && intake.is_nil()) {
                for (auto& w : idle) quits[w.worker].send(csp::unit{});
                idle.clear();
            }
        }
    }
    s->stopped.close();
}

class dispatcher {
public:
    explicit dispatcher(int workers) { csp::go(loop, s_, workers); }
    std::shared_ptr<job> submit(std::function<int()> fn) {
        auto j = std::make_shared<job>();
        j->id = ++s_->next_id;
        j->fn = std::move(fn);
        s_->intake.send(submission{j, clk::now()});
        return j;
    }
    totals wait_all() { return ask(control_kind::wait_all); }
    void shutdown() {
        ask_async(control_kind::shutdown);
        s_->stopped.recv();
    }

private:
    csp::chan<totals> ask_async(control_kind k) {
        csp::chan<totals> reply(1);
        s_->control_ch.send(control{k, reply});
        return reply;
    }
    totals ask(control_kind k) { return ask_async(k).recv_or_zero(); }
    std::shared_ptr<shared> s_ = std::make_shared<shared>();
};

}  // namespace godesign

// ---------------------------------------------------------------------------
// The workloads.

struct measurement {
    double ns;
    long ops;
};

/// csp::dispatcher, w workers, n tiny jobs from one goroutine. ns per job.
measurement jobs_ours(const char* name, int w) {
    const long n = scaled(200'000);
    csp::dispatcher d(static_cast<std::size_t>(w));
    const auto t0 = clk::now();
    for (long i = 0; i < n; ++i) d.submit([a = i, b = 1L] { return a + b; });
    d.wait_all();
    const double ns = ns_between(t0, clk::now());
    const csp::dispatcher_metrics m = d.metrics();
    check(name, static_cast<long long>(m.succeeded), n);
    d.shutdown();
    return {ns, n};
}

/// The Go design on csp::chan, same jobs. ns per job.
measurement jobs_go_design(const char* name, int w) {
    const long n = scaled(200'000);
    godesign::dispatcher d(w);
    const auto t0 = clk::now();
    for (long i = 0; i < n; ++i) d.submit([a = static_cast<int>(i), b = 1] { return a + b; });
    const godesign::totals t = d.wait_all();
    const double ns = ns_between(t0, clk::now());
    d.shutdown();
    check(name, t.succeeded, n);
    check(name, t.sum, static_cast<long long>(n) * (n - 1) / 2 + n);
    return {ns, n};
}

/// Submit -> start at half load: 4 workers, and the submitter keeps at most
/// 2 jobs between submit and start (a token per job, handed back by the job
/// when it starts), so an idle worker is always there and the figure is the
/// dispatch path itself. p50 and p99 in ns.
std::pair<double, double> latency() {
    constexpr int workers = 4;
    const long n = scaled(100'000);
    std::vector<clk::duration> lat(static_cast<std::size_t>(n));
    csp::chan<csp::unit> tokens(workers / 2);
    csp::dispatcher d(workers);
    for (long i = 0; i < n; ++i) {
        tokens.send(csp::unit{});
        const auto t0 = clk::now();
        d.submit([&lat, tokens, i, t0] {
            lat[static_cast<std::size_t>(i)] = clk::now() - t0;
            tokens.recv();
        });
    }
    d.wait_all();
    check("dispatcher_latency_4", static_cast<long long>(d.metrics().succeeded), n);
    d.shutdown();
    std::sort(lat.begin(), lat.end());
    auto at = [&](double q) {
        return static_cast<double>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(lat[static_cast<std::size_t>(q * static_cast<double>(n - 1))])
                .count());
    };
    return {at(0.50), at(0.99)};
}

/// Resident bytes per queued job: one worker held in a job, 1,000,000 tiny
/// jobs submitted behind it, a round trip to the loop (it takes every
/// submission in the intake into its table before it answers), RSS growth /
/// 1e6. Not scaled. The dispatcher is left blocked, never destroyed: the
/// process ends (run it alone).
double queued_bytes_per_job() {
    constexpr long n = 1'000'000;
    auto* d = new csp::dispatcher(1);
    csp::chan<csp::unit> gate, started;
    d->submit([gate, started] {
        started.close();
        gate.recv();
    });
    started.recv();
    const long long before = rss_bytes();
    for (long i = 0; i < n; ++i) d->submit([a = i, b = 1L] { return a + b; });
    (void)d->metrics();
    const long long after = rss_bytes();
    return static_cast<double>(after - before) / n;
}

// ---------------------------------------------------------------------------
// Google Benchmark glue (cspbench.cpp's conventions).

void finish_state(benchmark::State& state) { state.counters["procs"] = static_cast<double>(csp::procs()); }

template <class F>
void register_row(const char* name, F body) {
    benchmark::RegisterBenchmark(name,
                                 [body](benchmark::State& state) {
                                     for (auto _ : state) body(state);
                                     finish_state(state);
                                 })
        ->Iterations(1)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
}

template <class F>
void register_throughput(const char* name, F workload) {
    register_row(name, [workload](benchmark::State& state) {
        measurement m{};
        csp::run([&] { m = workload(); });
        state.SetIterationTime(m.ns / 1e9);
        state.counters["ns_per_op"] = m.ns / static_cast<double>(m.ops);
        state.counters["ops"] = static_cast<double>(m.ops);
    });
}

const bool registered = [] {
    register_throughput("dispatcher_4", [] { return jobs_ours("dispatcher_4", 4); });
    register_throughput("dispatcher_64", [] { return jobs_ours("dispatcher_64", 64); });
    register_throughput("dispatcher_chan_4", [] { return jobs_go_design("dispatcher_chan_4", 4); });
    register_throughput("dispatcher_chan_64", [] { return jobs_go_design("dispatcher_chan_64", 64); });
    register_row("dispatcher_latency_4", [](benchmark::State& state) {
        std::pair<double, double> p;
        const auto t0 = clk::now();
        csp::run([&] { p = latency(); });
        state.SetIterationTime(ns_between(t0, clk::now()) / 1e9);
        state.counters["dispatcher_latency_4_p50"] = p.first;
        state.counters["dispatcher_latency_4_p99"] = p.second;
    });
    register_row("dispatcher_queued_1m", [](benchmark::State& state) {
        double b = 0;
        const auto t0 = clk::now();
        csp::run([&] { b = queued_bytes_per_job(); });
        state.SetIterationTime(ns_between(t0, clk::now()) / 1e9);
        state.counters["dispatcher_queued_1m"] = b;
    });
    return true;
}();

}  // namespace
