// cspbench: the C++ half of cspfiber's side-by-side benchmarks against Go.
// The Go half (bench/go/main.go) implements the same workloads under the
// same names, with the same sizes; bench/run.py runs both and compares.
//
// Two modes:
//
//   cspbench [--scale X] [--benchmark_* flags]
//       Google Benchmark over the throughput workloads. Each benchmark is
//       one repetition of the workload per iteration (Iterations(1), manual
//       time), like one repetition of the Go program; the counter
//       `ns_per_op` is ns per round trip / message / select / job /
//       goroutine. Use --benchmark_repetitions=N and take the median.
//
//   cspbench --memory skynet|idle_1m
//       Runs one memory workload once and prints CSV lines in the Go
//       program's format, `workload,threads,value,unit`. Run each in a fresh
//       process: VmHWM is a process-wide high-water mark.
//
// The runtime's thread count comes from CSP_PROCS (read at first use), so a
// process measures one thread count; `threads` is csp::procs().
//
// Everything timed runs in goroutines (inside csp::run), and every workload
// checks its result; a wrong result aborts the process.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <chan/chan.hpp>
#include <chan/select.hpp>
#include <fiber/go.hpp>
#include <fiber/wait_group.hpp>

#include "first_touch.hpp"

namespace {

using clk = std::chrono::steady_clock;

double g_scale = 1.0;

/// base * --scale, at least 1 (the Go program's scaled()).
long scaled(long base) { return std::max(1L, static_cast<long>(static_cast<double>(base) * g_scale)); }

double ns_since(clk::time_point t0) {
    return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now() - t0).count());
}

void check(const char* what, long long got, long long want) {
    if (got == want) return;
    std::fprintf(stderr, "cspbench: %s: got %lld, want %lld\n", what, got, want);
    std::fflush(stderr);
    std::abort();
}

/// One timed repetition: how long it took and how many operations it did.
struct measurement {
    double ns;
    long ops;
};

// ---------------------------------------------------------------------------
// Throughput workloads. Each runs on a goroutine and returns its measurement.

/// Two goroutines, two unbuffered channels: ping -> echo -> pong.
/// ns per round trip.
measurement pingpong() {
    const long n = scaled(1'000'000);
    csp::chan<int> ping, pong;
    csp::go([ping, pong] {
        for (int v : ping) pong.send(v);
    });
    const auto t0 = clk::now();
    for (long i = 0; i < n; ++i) {
        ping.send(static_cast<int>(i));
        std::optional<int> v = pong.recv();
        if (!v || *v != static_cast<int>(i)) check("pingpong", v ? *v : -1, i);
    }
    const double ns = ns_since(t0);
    ping.close();
    return {ns, n};
}

/// One producer sends 0..n-1 to one consumer over a channel of `capacity`
/// (0: unbuffered). ns per message.
measurement stream(const char* name, std::size_t capacity, long base) {
    const long n = scaled(base);
    csp::chan<int> ch(capacity);
    const auto t0 = clk::now();
    csp::go([ch, n] {
        for (long i = 0; i < n; ++i) ch.send(static_cast<int>(i));
        ch.close();
    });
    long long sum = 0;
    for (int v : ch) sum += v;
    const double ns = ns_since(t0);
    check(name, sum, static_cast<long long>(n) * (n - 1) / 2);
    return {ns, n};
}

/// p producers and p consumers share one chan<int>(1024); the producers send
/// 0..n-1 between them, the consumers sum. ns per message.
measurement mpmc(const char* name, int p, long base) {
    const long per = std::max(scaled(base) / p, 1L);
    const long n = per * p;
    csp::chan<int> ch(1024);
    std::vector<long long> sums(static_cast<std::size_t>(p));
    csp::wait_group producers, consumers;
    producers.add(p);
    consumers.add(p);
    const auto t0 = clk::now();
    for (int c = 0; c < p; ++c) {
        csp::go([ch, c, &sums, &consumers] {
            long long sum = 0;
            for (int v : ch) sum += v;
            sums[static_cast<std::size_t>(c)] = sum;
            consumers.done();
        });
    }
    for (int q = 0; q < p; ++q) {
        csp::go([ch, first = q * per, per, &producers] {
            for (long v = first; v < first + per; ++v) ch.send(static_cast<int>(v));
            producers.done();
        });
    }
    producers.wait();
    ch.close();
    consumers.wait();
    const double ns = ns_since(t0);
    long long total = 0;
    for (long long s : sums) total += s;
    check(name, total, static_cast<long long>(n) * (n - 1) / 2);
    return {ns, n};
}

/// A producer alternately sends to two chan<int>(128), then closes both; the
/// consumer selects over both until both are closed (a closed one is
/// replaced by the nil channel). ns per received value.
measurement select2() {
    const long n = scaled(4'000'000);
    csp::chan<int> a(128), b(128);
    const auto t0 = clk::now();
    csp::go([a, b, n] {
        for (long i = 0; i < n; ++i) {
            if (i % 2 == 0) a.send(static_cast<int>(i));
            else b.send(static_cast<int>(i));
        }
        a.close();
        b.close();
    });
    long received = 0;
    long long sum = 0;
    csp::chan<int> ra = a, rb = b;
    while (!ra.is_nil() || !rb.is_nil()) {
        csp::select(csp::case_recv(ra,
                                   [&](std::optional<int> v) {
                                       if (!v) {
                                           ra = csp::chan<int>::nil();
                                           return;
                                       }
                                       ++received;
                                       sum += *v;
                                   }),
                    csp::case_recv(rb, [&](std::optional<int> v) {
                        if (!v) {
                            rb = csp::chan<int>::nil();
                            return;
                        }
                        ++received;
                        sum += *v;
                    }));
    }
    const double ns = ns_since(t0);
    check("select2", received, n);
    check("select2", sum, static_cast<long long>(n) * (n - 1) / 2);
    return {ns, received};
}

/// w workers drain 2,000,000 tiny jobs (closures capturing one int) from a
/// chan<std::function<void()>>(1024); a wait_group waits for the workers
/// after the channel is closed. ns per job.
measurement workerpool(const char* name, int w) {
    const long n = scaled(2'000'000);
    csp::chan<std::function<void()>> jobs(1024);
    std::vector<long> counts(static_cast<std::size_t>(w));
    csp::wait_group wg;
    wg.add(w);
    const auto t0 = clk::now();
    for (int i = 0; i < w; ++i) {
        csp::go([jobs, i, &counts, &wg] {
            long done = 0;
            for (auto& job : jobs) {
                job();
                ++done;
            }
            counts[static_cast<std::size_t>(i)] = done;
            wg.done();
        });
    }
    for (long i = 0; i < n; ++i) {
        jobs.send([v = i] { benchmark::DoNotOptimize(v + 1); });
    }
    jobs.close();
    wg.wait();
    const double ns = ns_since(t0);
    long total = 0;
    for (long c : counts) total += c;
    check(name, total, n);
    return {ns, n};
}

/// Spawns 1000 goroutines that only call wg.done(), waits, repeats.
/// ns per goroutine.
measurement spawn_join() {
    constexpr long batch = 1000;
    const long batches = std::max(scaled(2'000'000) / batch, 1L);
    csp::wait_group wg;
    const auto t0 = clk::now();
    for (long b = 0; b < batches; ++b) {
        wg.add(batch);
        for (long i = 0; i < batch; ++i) csp::go([&wg] { wg.done(); });
        wg.wait();
    }
    return {ns_since(t0), batches * batch};
}

/// Every scheduler thread busy in a CPU loop that never yields (csp::procs()
/// goroutines), while two other goroutines ping-pong 1000 round trips: the
/// time from the moment the last loop starts (it wakes the pinger) to the
/// last round trip. Go preempts the loops; cspfiber's monitor hands the pair
/// to a stand-in thread. ns for the whole 1000 (one op). Not scaled.
measurement cpu_bound_latency() {
    constexpr int round_trips = 1000;
    const std::size_t loops = csp::procs();
    std::atomic<bool> stop{false};
    std::atomic<std::size_t> started{0};
    std::atomic<long long> t0_ns{0};
    csp::chan<csp::unit> all_busy;
    csp::chan<int> ping, pong;
    csp::chan<double> elapsed(1);
    csp::wait_group wg;
    csp::go([ping, pong] {
        for (int v : ping) pong.send(v);
    });
    csp::go([&, all_busy, ping, pong, elapsed] {
        all_busy.recv();
        for (int i = 0; i < round_trips; ++i) {
            ping.send(i);
            if (pong.recv().value_or(-1) != i) check("cpu_bound_latency", -1, i);
        }
        ping.close();
        const long long end = clk::now().time_since_epoch().count();
        elapsed.send(static_cast<double>(end - t0_ns.load()));
    });
    wg.add(static_cast<int>(loops));
    for (std::size_t i = 0; i < loops; ++i) {
        csp::go([&, all_busy] {
            if (started.fetch_add(1) + 1 == loops) {
                t0_ns = clk::now().time_since_epoch().count();
                all_busy.close();  // the pinger is ready now; this thread spins on
            }
            while (!stop.load(std::memory_order_relaxed)) {
            }
            wg.done();
        });
    }
    const double ns = elapsed.recv().value_or(-1);
    stop = true;
    wg.wait();
    return {ns, 1};
}

// ---------------------------------------------------------------------------
// Google Benchmark glue.

// One iteration = one repetition of the workload, timed inside it (manual
// time). Counters: ns_per_op (what bench/run.py compares), ops, and procs
// (the runtime's thread count, to check that CSP_PROCS took effect).
template <class F>
void run_workload(benchmark::State& state, F body) {
    long total_ops = 0;
    for (auto _ : state) {
        measurement m{};
        csp::run([&] { m = body(); });
        state.SetIterationTime(m.ns / 1e9);
        state.counters["ns_per_op"] = m.ns / static_cast<double>(m.ops);
        state.counters["ops"] = static_cast<double>(m.ops);
        total_ops += m.ops;
    }
    state.SetItemsProcessed(total_ops);
    state.counters["procs"] = static_cast<double>(csp::procs());
}

void register_benchmarks() {
    struct entry {
        const char* name;
        std::function<measurement()> body;
    };
    static const std::vector<entry> entries = {
        {"pingpong", pingpong},
        {"unbuffered_stream", [] { return stream("unbuffered_stream", 0, 2'000'000); }},
        {"buffered_stream_1", [] { return stream("buffered_stream_1", 1, 2'000'000); }},
        {"buffered_stream_1024", [] { return stream("buffered_stream_1024", 1024, 8'000'000); }},
        {"mpmc_2x2", [] { return mpmc("mpmc_2x2", 2, 8'000'000); }},
        {"mpmc_8x8", [] { return mpmc("mpmc_8x8", 8, 8'000'000); }},
        {"select2", select2},
        {"workerpool_4", [] { return workerpool("workerpool_4", 4); }},
        {"workerpool_64", [] { return workerpool("workerpool_64", 64); }},
        {"spawn_join", spawn_join},
        {"cpu_bound_latency", cpu_bound_latency},
    };
    for (const entry& e : entries) {
        benchmark::RegisterBenchmark(e.name, [&e](benchmark::State& s) { run_workload(s, e.body); })
            ->Iterations(1)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
    }
}

// ---------------------------------------------------------------------------
// Memory workloads (--memory NAME): one run, CSV out.

/// A memory field of /proc/self/status ("VmRSS", "VmHWM") in bytes.
long long proc_status(const char* field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    const std::size_t len = std::strlen(field);
    while (std::getline(in, line)) {
        if (line.compare(0, len, field) != 0 || line.size() <= len || line[len] != ':') continue;
        long long kb = 0;
        char unit[8] = {};
        if (std::sscanf(line.c_str() + len + 1, "%lld %7s", &kb, unit) == 2 && std::strcmp(unit, "kB") == 0)
            return kb * 1024;
        break;
    }
    std::fprintf(stderr, "cspbench: no usable %s line in /proc/self/status\n", field);
    std::exit(2);
}

void print_row(const char* name, double value, const char* unit) {
    const int digits = std::strcmp(unit, "bytes") == 0 ? 0 : std::strcmp(unit, "x") == 0 ? 2 : 1;
    std::printf("%s,%zu,%.*f,%s\n", name, csp::procs(), digits, value, unit);
}

void skynet_node(csp::chan<long> c, long num, long size, long div) {
    if (size == 1) {
        c.send(num);
        return;
    }
    csp::chan<long> rc;
    for (long i = 0; i < div; ++i) csp::go(skynet_node, rc, num + i * (size / div), size / div, div);
    long sum = 0;
    for (long i = 0; i < div; ++i) sum += rc.recv_or_zero();
    c.send(sum);
}

/// The skynet benchmark: a 10-ary tree of 1,111,111 goroutines whose
/// 1,000,000 leaves send their number up over unbuffered channels. Total ms
/// and the increase of the peak RSS.
void skynet() {
    csp::procs();  // the runtime's threads exist before the baseline
    const long long before = proc_status("VmHWM");
    double ms = 0;
    long sum = 0;
    csp::run([&] {
        const auto t0 = clk::now();
        csp::chan<long> c;
        csp::go(skynet_node, c, 0L, 1'000'000L, 10L);
        sum = c.recv_or_zero();
        ms = ns_since(t0) / 1e6;
    });
    const long long after = proc_status("VmHWM");
    check("skynet", sum, 499'999'500'000LL);
    print_row("skynet", ms, "ms");
    print_row("skynet_peak_rss", static_cast<double>(after - before), "bytes");
}

/// The kernel's first touch of `n` fresh stack pages (one per 64 KiB, as
/// the stack pool lays them out), in ms: estimated from a sample of 200,000
/// taken now, in this process, so that it shares the machine's load.
double first_touch_floor_ms(long n) {
    constexpr std::size_t sample = 200'000;
    return csp_bench::first_touch_ns(sample, 64 * 1024) * static_cast<double>(n) / 1e6;
}

/// CPU time of the whole process (every thread), in ns.
double process_cpu_ns() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    auto ns = [](const timeval& t) { return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_usec) * 1e3; };
    return ns(u.ru_utime) + ns(u.ru_stime);
}

/// 1,000,000 goroutines, each blocked receiving on one shared unbuffered
/// channel after wg.done(): ms until all have started, and resident bytes
/// per goroutine; then the channel is closed and they exit (untimed).
/// Each needs one fresh stack page, whose first touch is most of the cost:
/// idle_1m_floor is that touch for a million pages (the mean of a sample
/// before and after the run), idle_1m_floor_x our time as a multiple of it.
/// Both the floor and the run touch memory the host has backed
/// (warm_fresh_memory first): otherwise the run's 4 GB reads 1.6 to 7 s
/// by what the host did last.
/// idle_1m_cpu_per_g is the process's CPU time (all its threads) per
/// goroutine over the same span: the start's cost on a busy machine, where
/// threads that work beside the spawner do not shorten it.
void idle_1m() {
    constexpr long n = 1'000'000;
    csp::procs();
    // More than the run will touch; Go's idle_1m does the same (main.go).
    csp_bench::warm_fresh_memory(n + n / 10, 64 * 1024);
    const double floor_before = first_touch_floor_ms(n);
    double start_ms = 0;
    csp::run([&] {
        csp::chan<int> block;
        csp::wait_group started, exited;
        started.add(n);
        exited.add(n);
        const long long before = proc_status("VmRSS");
        const double cpu0 = process_cpu_ns();
        const auto t0 = clk::now();
        for (long i = 0; i < n; ++i) {
            csp::go([&] {
                started.done();
                block.recv();
                exited.done();
            });
        }
        started.wait();
        const double ms = ns_since(t0) / 1e6;
        const double cpu_per_g = (process_cpu_ns() - cpu0) / n;
        const long long after = proc_status("VmRSS");
        block.close();
        exited.wait();
        start_ms = ms;
        print_row("idle_1m_start", ms, "ms");
        print_row("idle_1m_rss_per_g", static_cast<double>(after - before) / n, "bytes");
        print_row("idle_1m_cpu_per_g", cpu_per_g, "ns");
    });
    const double floor_ms = (floor_before + first_touch_floor_ms(n)) / 2;
    print_row("idle_1m_floor", floor_ms, "ms");
    print_row("idle_1m_floor_x", start_ms / floor_ms, "x");
}

int usage() {
    std::fprintf(stderr,
                 "usage: cspbench [--scale X] [--benchmark_* flags]\n"
                 "       cspbench --memory skynet|idle_1m\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    // Take our own flags out before Google Benchmark sees the rest.
    std::vector<char*> rest{argv[0]};
    const char* memory = nullptr;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&](const char* flag) -> const char* {
            const std::string f = flag;
            if (a == f) return i + 1 < argc ? argv[++i] : nullptr;
            if (a.rfind(f + "=", 0) == 0) return argv[i] + f.size() + 1;
            return nullptr;
        };
        if (a == "--scale" || a.rfind("--scale=", 0) == 0) {
            const char* v = value("--scale");
            if (!v || (g_scale = std::strtod(v, nullptr)) <= 0) return usage();
        } else if (a == "--memory" || a.rfind("--memory=", 0) == 0) {
            if (!(memory = value("--memory"))) return usage();
        } else {
            rest.push_back(argv[i]);
        }
    }
    if (memory) {
        if (rest.size() != 1) return usage();
        if (std::strcmp(memory, "skynet") == 0) skynet();
        else if (std::strcmp(memory, "idle_1m") == 0) idle_1m();
        else return usage();
        std::fflush(stdout);
        // Goroutines may still be finishing; the runtime is never torn down.
        std::_Exit(0);
    }
    register_benchmarks();
    int n = static_cast<int>(rest.size());
    rest.push_back(nullptr);
    benchmark::Initialize(&n, rest.data());
    if (benchmark::ReportUnrecognizedArguments(n, rest.data())) return usage();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    std::fflush(stdout);
    std::_Exit(0);
}
