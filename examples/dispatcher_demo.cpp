// The dispatcher demo (`./dev demo`): csp::dispatcher on a realistic batch.
//
// Thousands of jobs (--jobs N, default 5000; --fast: 500) on several workers
// (--workers N, default 8), each sleeping a few ms (random, --seed S). Among
// them: some fail (throw), some time out (their timeout is shorter than their
// sleep; they wait on ctx.done() or the sleep with csp::select), some fail
// their first attempt(s) and succeed on a retry, some are cancelled while
// queued or while running, some run at high priority. A third of the way one
// worker is told to quit; half way workers are added.
//
// Main draws a progress line from d.metrics() every 100 ms (redrawn in place
// on a terminal, a line a second otherwise), then a summary, then checks its
// run: every job has exactly one final state (d.info for every id, and one
// final event per job on d.events()), each kind of job ended as it must, and
// the dispatcher's totals agree. Exit status 1 (check failed) otherwise.
//
// No job spins: they block in sleeps and selects (the runtime does not
// preempt a goroutine that never blocks).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include <chan/chan.hpp>
#include <chan/select.hpp>
#include <chan/time.hpp>
#include <dispatcher/dispatcher.hpp>
#include <fiber/go.hpp>
#include <fiber/sleep.hpp>

#include "example.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

// What a job of the batch does, and so how it must end.
enum class kind : unsigned char {
    normal,          // sleeps, succeeds
    high,            // the same at high priority
    fails,           // sleeps, throws: failed
    times_out,       // waits longer than its timeout: timed_out
    retried,         // throws on its first attempt(s), then succeeds
    cancel_running,  // waits until cancelled while it runs: cancelled
    cancel_queued,   // low priority, cancelled by main before a worker takes it
};

struct planned_job {
    kind k = kind::normal;
    clock_type::duration sleep{};
    unsigned failures = 0;  // retried: attempts that throw before one succeeds
    csp::job_id id = 0;
    csp::cancel_result cancel{};  // cancel_queued: what cancel() answered
};

double ms(clock_type::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }
double seconds(clock_type::duration d) { return std::chrono::duration<double>(d).count(); }
std::uint64_t finished(const csp::dispatcher_metrics& m) { return m.succeeded + m.failed + m.cancelled + m.timed_out; }

// The batch: per mille of each special kind (at least one of each), the rest
// normal, shuffled; sleeps of 1-5 ms.
std::vector<planned_job> plan(std::size_t n, std::mt19937_64& rng) {
    std::vector<planned_job> jobs(n);
    std::size_t at = 0;
    auto take = [&](kind k, std::size_t per_mille) {
        for (std::size_t c = std::max<std::size_t>(1, n * per_mille / 1000); c > 0 && at < n; --c) jobs[at++].k = k;
    };
    take(kind::fails, 20);
    take(kind::times_out, 20);
    take(kind::retried, 20);
    take(kind::cancel_running, 5);
    take(kind::cancel_queued, 10);
    take(kind::high, 100);
    std::shuffle(jobs.begin(), jobs.end(), rng);
    std::uniform_int_distribution<int> micros(1000, 5000);
    for (planned_job& j : jobs) {
        j.sleep = std::chrono::microseconds(micros(rng));
        if (j.k == kind::retried) j.failures = 1 + static_cast<unsigned>(rng() % 2);
    }
    return jobs;
}

// Blocks until the job's context is done or `d` has passed; true if done.
bool wait_or_done(const csp::context& ctx, clock_type::duration d) {
    return csp::select(csp::case_recv(ctx.done()), csp::case_recv(csp::after(d))) == 0;
}

// The live line: where the jobs are (queued, running, waiting to be retried),
// the final states so far, the workers, the rate since the last line.
std::string progress_line(const csp::dispatcher_metrics& m, std::size_t total, double elapsed, double rate) {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "progress: %4.1fs %llu/%zu | queued %zu run %zu wait %zu | ok %llu fail %llu cancel %llu "
                  "timeout %llu | workers %zu busy %zu idle %zu | %.0f jobs/s",
                  elapsed, (unsigned long long)finished(m), total, m.queued, m.running, m.waiting,
                  (unsigned long long)m.succeeded, (unsigned long long)m.failed, (unsigned long long)m.cancelled,
                  (unsigned long long)m.timed_out, m.workers, m.busy, m.idle, rate);
    return buf;
}

}  // namespace

int main(int argc, char** argv) {
    const bool fast = examples::has_flag(argc, argv, "--fast");
    // At least 10 jobs (the milestones need distinct thirds and halves) and 2
    // workers (one quits before any is added).
    const std::size_t n_jobs =
        std::max(10L, std::atol(examples::flag_value(argc, argv, "--jobs", fast ? "500" : "5000").c_str()));
    const std::size_t n_workers = std::max(2L, std::atol(examples::flag_value(argc, argv, "--workers", "8").c_str()));
    const unsigned long seed = std::strtoul(examples::flag_value(argc, argv, "--seed", "1").c_str(), nullptr, 10);
    const bool tty = isatty(1) != 0;

    csp::run([&] {
        std::mt19937_64 rng(seed);
        std::vector<planned_job> jobs = plan(n_jobs, rng);
        std::printf("dispatcher demo: %zu jobs on %zu workers (seed %lu)\n", n_jobs, n_workers, seed);
        std::fflush(stdout);

        const auto start = clock_type::now();
        csp::dispatcher d(n_workers);

        // The event reader: counts each job's final events (exactly one
        // each, checked below), tells main when a third and a half of the
        // jobs are final (unbuffered: it waits until main has acted, so both
        // milestones come before `all_final`), and closes `all_final` with
        // the last one. It keeps counting until the channel closes at the
        // stop, so a second final event for a job would still be seen.
        auto final_events = std::make_shared<std::unordered_map<csp::job_id, int>>();
        csp::chan<int> milestones;
        csp::chan<csp::unit> all_final, reader_done;
        csp::go([events = d.events(), final_events, milestones, all_final, reader_done, n_jobs] {
            std::size_t seen = 0;
            for (const csp::dispatcher_event& e : events) {
                if (e.what != csp::dispatcher_event::kind::job || !csp::is_final(e.state)) continue;
                ++(*final_events)[e.job];
                ++seen;
                if (seen == n_jobs / 3 || seen == n_jobs / 2) milestones.send(seen == n_jobs / 3 ? 1 : 2);
                if (seen == n_jobs) all_final.close();
            }
            reader_done.close();
        });

        // Submit the batch. A cancel_running job tells its canceller it has
        // started; the canceller cancels it and reports cancel()'s answer.
        std::size_t n_cancel_running = 0;
        csp::chan<csp::cancel_result> running_cancels(n_jobs);
        for (planned_job& j : jobs) {
            const auto sleep = j.sleep;
            switch (j.k) {
            case kind::normal:
            case kind::high:
                j.id = d.submit([sleep] { csp::sleep_for(sleep); },
                                {.priority = j.k == kind::high ? csp::job_priority::high : csp::job_priority::normal})
                           .id();
                break;
            case kind::fails:
                j.id = d.submit([sleep] {
                            csp::sleep_for(sleep);
                            throw std::runtime_error("simulated failure");
                        }).id();
                break;
            case kind::times_out:
                // Waits 10x its timeout; returns as soon as the context expires.
                j.id = d.submit([sleep](const csp::context& ctx) { wait_or_done(ctx, 10 * sleep); },
                                {.timeout = sleep})
                           .id();
                break;
            case kind::retried:
                // `attempt` lives in the job's function object: each run (one
                // at a time, on whichever worker) sees the previous ones.
                j.id = d.submit([sleep, failures = j.failures, attempt = 0u]() mutable {
                            csp::sleep_for(sleep);
                            if (++attempt <= failures) throw std::runtime_error("transient failure");
                        },
                                {.retries = 2, .backoff = [](unsigned) -> clock_type::duration { return 2ms; }})
                           .id();
                break;
            case kind::cancel_running: {
                csp::chan<csp::unit> started(1);
                j.id = d.submit([started](const csp::context& ctx) {
                            started.send(csp::unit{});
                            if (!wait_or_done(ctx, 10s)) throw std::runtime_error("never cancelled");
                        }).id();
                ++n_cancel_running;
                csp::go([&d, id = j.id, started, running_cancels] {
                    started.recv();
                    running_cancels.send(d.cancel(id));
                });
                break;
            }
            case kind::cancel_queued:
                j.id = d.submit([sleep] { csp::sleep_for(sleep); }, {.priority = csp::job_priority::low}).id();
                break;
            }
        }
        // Low priority: every other queued job goes first, so these are
        // still queued now (unless the batch is smaller than the workers).
        for (planned_job& j : jobs)
            if (j.k == kind::cancel_queued) j.cancel = d.cancel(j.id);

        // The live line, the milestones, until every job is final. A batch
        // that stops making progress for 10 s is a failure, reported.
        csp::ticker tick(100ms);
        auto last_print = start, last_tick = start, last_change = start;
        std::uint64_t last_done = 0;
        csp::worker_id quit_id = 0;
        std::vector<csp::worker_id> added;
        bool running = true;
        while (running) {
            csp::select(
                csp::case_recv(tick.c,
                               [&](csp::time_point now) {
                                   const csp::dispatcher_metrics m = d.metrics();
                                   const std::uint64_t done = finished(m);
                                   const double rate = (done - last_done) / std::max(1e-9, seconds(now - last_tick));
                                   if (done != last_done) last_change = now;
                                   last_done = done;
                                   last_tick = now;
                                   const std::string line = progress_line(m, n_jobs, seconds(now - start), rate);
                                   if (tty) {
                                       std::printf("\r\033[K%s", line.c_str());
                                   } else if (now - last_print >= 1s) {
                                       std::printf("%s\n", line.c_str());
                                       last_print = now;
                                   }
                                   std::fflush(stdout);
                                   if (now - last_change > 10s) {
                                       std::printf("\nno job finished for 10 s:\n%s\n", line.c_str());
                                       examples::check(false, "the batch stalled");
                                   }
                               }),
                csp::case_recv(milestones,
                               [&](int which) {
                                   const std::uint64_t done = finished(d.metrics());
                                   if (tty) std::printf("\r\033[K");
                                   if (which == 1) {
                                       quit_id = d.workers().front();
                                       d.quit_worker(quit_id);
                                       std::printf("worker %llu told to quit after %llu jobs finished\n",
                                                   (unsigned long long)quit_id, (unsigned long long)done);
                                   } else {
                                       added = d.add_workers(std::max<std::size_t>(1, n_workers / 2));
                                       std::printf("%zu workers added (ids %llu-%llu) after %llu jobs finished\n",
                                                   added.size(), (unsigned long long)added.front(),
                                                   (unsigned long long)added.back(), (unsigned long long)done);
                                   }
                                   std::fflush(stdout);
                               }),
                csp::case_recv(all_final, [&] { running = false; }));
        }
        tick.stop();
        const auto wall = clock_type::now() - start;
        if (tty) {  // the last line stays, with the mean rate
            const csp::dispatcher_metrics m = d.metrics();
            std::printf("\r\033[K%s\n", progress_line(m, n_jobs, seconds(wall), finished(m) / seconds(wall)).c_str());
        }

        std::size_t cancelled_running = 0;
        for (std::size_t i = 0; i < n_cancel_running; ++i)
            if (*running_cancels.recv() == csp::cancel_result::cancelling) ++cancelled_running;
        examples::check(cancelled_running == n_cancel_running, "a cancel of a running job did not find it running");
        const std::vector<csp::worker_id> live = d.workers();
        examples::check(live.size() == n_workers - 1 + added.size(), "live workers: started - quit + added");
        examples::check(std::find(live.begin(), live.end(), quit_id) == live.end(), "the quit worker is still live");

        d.wait_all();
        examples::check(d.shutdown(), "the dispatcher did not stop");
        reader_done.recv();  // the event channel has closed: every event counted
        const csp::dispatcher_metrics m = d.metrics();

        // Every job, as the dispatcher records it.
        std::size_t by_state[8] = {};
        std::size_t cancelled_queued = 0, retried_jobs = 0, bad = 0;
        std::uint64_t expected_retries = 0;
        double wait_high = 0, wait_normal = 0;
        std::size_t n_high = 0, n_normal = 0;
        auto expect = [&bad](bool ok, const planned_job& j, const csp::job_info& i, const char* what) {
            if (ok) return;
            if (++bad <= 10)
                std::fprintf(stderr, "job %llu: %s (state %s, attempts %u, error '%s')\n", (unsigned long long)j.id,
                             what, csp::to_string(i.state), i.attempts, i.error.c_str());
        };
        for (const planned_job& j : jobs) {
            const csp::job_info i = d.info(j.id);
            expect(csp::is_final(i.state), j, i, "not final");
            expect(final_events->count(j.id) == 1 && final_events->at(j.id) == 1, j, i,
                   "not exactly one final event");
            ++by_state[static_cast<int>(i.state)];
            using S = csp::job_state;
            switch (j.k) {
            case kind::normal:
            case kind::high:
                expect(i.state == S::succeeded && i.attempts == 1, j, i, "should have succeeded at once");
                (j.k == kind::high ? wait_high : wait_normal) += ms(i.started - i.submitted);
                ++(j.k == kind::high ? n_high : n_normal);
                break;
            case kind::fails:
                expect(i.state == S::failed && i.error == "simulated failure", j, i, "should have failed");
                break;
            case kind::times_out:
                expect(i.state == S::timed_out && i.attempts == 1, j, i, "should have timed out");
                break;
            case kind::retried:
                expect(i.state == S::succeeded && i.attempts == j.failures + 1, j, i,
                       "should have succeeded after its failures");
                expected_retries += j.failures;
                ++retried_jobs;
                break;
            case kind::cancel_running:
                expect(i.state == S::cancelled && i.attempts == 1, j, i, "should have been cancelled running");
                break;
            case kind::cancel_queued:
                if (j.cancel == csp::cancel_result::cancelled) {
                    expect(i.state == S::cancelled && i.attempts == 0, j, i, "should have been cancelled queued");
                    ++cancelled_queued;
                } else {  // a tiny batch: a worker had taken it already
                    expect(i.state == S::succeeded || i.state == S::cancelled, j, i, "cancelled late");
                }
                break;
            }
        }
        using S = csp::job_state;
        auto count = [&](S s) { return by_state[static_cast<int>(s)]; };
        std::size_t final_total = count(S::succeeded) + count(S::failed) + count(S::cancelled) + count(S::timed_out);

        std::printf("summary:\n");
        std::printf("  succeeded  %6zu\n", count(S::succeeded));
        std::printf("  failed     %6zu\n", count(S::failed));
        std::printf("  cancelled  %6zu (%zu while queued, %zu while running)\n", count(S::cancelled),
                    cancelled_queued, cancelled_running);
        std::printf("  timed_out  %6zu\n", count(S::timed_out));
        std::printf("  retries    %6llu (%zu jobs failed first, all succeeded on a retry)\n",
                    (unsigned long long)m.retries, retried_jobs);
        std::printf("  throughput %6.0f jobs/s\n", final_total / seconds(wall));
        std::printf("  run time   p50 %.2f ms, p99 %.2f ms\n", ms(m.run_time_p50), ms(m.run_time_p99));
        std::printf("  queue wait high priority %.1f ms, normal %.1f ms (mean)\n", n_high ? wait_high / n_high : 0.0,
                    n_normal ? wait_normal / n_normal : 0.0);
        std::printf("  wall time  %.2f s\n", seconds(wall));
        std::fflush(stdout);

        examples::check(bad == 0, "jobs did not end as planned (listed above)");
        examples::check(final_total == n_jobs, "a job without a final state");
        examples::check(final_events->size() == n_jobs, "final events for unknown jobs");
        examples::check(m.submitted == n_jobs && m.succeeded == count(S::succeeded) && m.failed == count(S::failed) &&
                            m.cancelled == count(S::cancelled) && m.timed_out == count(S::timed_out),
                        "the dispatcher's totals disagree with its jobs");
        examples::check(m.retries == expected_retries, "retries counted differently from the jobs' failures");
        examples::check(m.events_dropped == 0, "events were dropped");
        std::printf("self-check: %zu jobs, each with exactly one final state: ok\n", n_jobs);
    });
}
