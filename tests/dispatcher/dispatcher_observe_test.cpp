// csp::dispatcher: what a program can watch: metrics() and the event channel.
#include <map>
#include <stdexcept>
#include <vector>

#include "dispatcher_test_util.hpp"

namespace csp_test {
namespace {

using event = csp::dispatcher_event;

class DispatcherObserve : public SettingTest {};

TEST_P(DispatcherObserve, MetricsCountJobsInEveryState) {
    run([] {
        dispatcher d(1);
        gate g;
        csp::chan<csp::unit> started;
        d.submit([&] {
            started.send(csp::unit{});
            g.wait();
        });
        started.recv();
        for (int i = 0; i < 3; ++i) d.submit([] { csp::sleep_for(1ms); });
        auto later = d.submit_after(1h, [] {});
        auto bad = d.submit([] { throw std::runtime_error("no"); });
        csp::dispatcher_metrics m = d.metrics();
        EXPECT_EQ(m.workers, 1u);
        EXPECT_EQ(m.busy, 1u);
        EXPECT_EQ(m.idle, 0u);
        EXPECT_EQ(m.running, 1u);
        EXPECT_EQ(m.queued, 4u);
        EXPECT_EQ(m.waiting, 1u);
        EXPECT_EQ(m.submitted, 6u);
        EXPECT_EQ(m.succeeded + m.failed + m.cancelled + m.timed_out, 0u);

        later.cancel();
        g.open();
        d.wait_all();
        m = d.metrics();
        EXPECT_EQ(m.succeeded, 4u);
        EXPECT_EQ(m.failed, 1u);
        EXPECT_EQ(m.cancelled, 1u);
        EXPECT_EQ(m.queued + m.waiting + m.running + m.busy, 0u);
        // The worker registers as idle right after its last report: soon.
        const auto t0 = steady::now();
        while (d.metrics().idle != 1 && since(t0) < patience) csp::sleep_for(100us);
        EXPECT_EQ(d.metrics().idle, 1u);
        EXPECT_GT(m.finished_per_second, 0.0);
        EXPECT_GE(m.run_time_p99, m.run_time_p50);
        EXPECT_GE(m.run_time_p99, 1ms);  // the blocker and the sleepers ran that long at least

        csp::job_options retry_once{.retries = 1, .backoff = [](unsigned) -> steady::duration { return 1ms; }};
        auto flaky = d.submit(
            [n = 0]() mutable {
                if (n++ == 0) throw std::runtime_error("once");
            },
            retry_once);
        flaky.get();
        EXPECT_EQ(d.metrics().retries, 1u);
        EXPECT_TRUE(d.shutdown());
        EXPECT_EQ(d.metrics().succeeded, 5u);  // the last numbers, after the stop
    });
}

TEST_P(DispatcherObserve, EventsReportEveryChangeInOrder) {
    run([this] {
        dispatcher d(1);
        auto events = d.events();
        EXPECT_TRUE(events == d.events());  // one channel
        std::vector<event> seen;
        task_group reader(mode());
        reader.go([&] {
            for (event e : events) seen.push_back(std::move(e));
        });
        auto ok = d.submit([] { return 1; });
        ok.get();
        auto bad = d.submit([] { throw std::runtime_error("bad"); });
        bad.wait();
        const csp::worker_id added = d.add_workers(1).at(0);
        EXPECT_TRUE(d.shutdown());
        reader.wait();  // the channel closed with the stop

        std::map<csp::job_id, std::vector<job_state>> by_job;
        std::vector<std::pair<event::kind, csp::worker_id>> worker_events;
        for (const event& e : seen) {
            if (e.what == event::kind::job) by_job[e.job].push_back(e.state);
            else worker_events.emplace_back(e.what, e.worker);
            if (e.what == event::kind::job && e.state == job_state::failed) {
                EXPECT_EQ(e.error, "bad");
            }
        }
        const std::vector<job_state> ok_states{job_state::queued, job_state::running, job_state::succeeded};
        const std::vector<job_state> bad_states{job_state::queued, job_state::running, job_state::failed};
        EXPECT_EQ(by_job[ok.id()], ok_states);
        EXPECT_EQ(by_job[bad.id()], bad_states);
        // Worker 1 started before anyone listened; the added one is seen starting; both quit.
        std::size_t quits = 0;
        bool added_started = false;
        for (auto& [k, w] : worker_events) {
            if (k == event::kind::worker_quit) ++quits;
            if (k == event::kind::worker_started && w == added) added_started = true;
        }
        EXPECT_EQ(quits, 2u);
        EXPECT_TRUE(added_started);
        EXPECT_EQ(d.metrics().events_dropped, 0u);
        // After the stop: a closed channel.
        EXPECT_FALSE(d.events().recv().has_value());
    });
}

CSP_INSTANTIATE_SETTINGS(DispatcherObserve);

TEST_P(DispatcherObserve, EventsFromTheStartMissNothing) {
    run([] {
        dispatcher d({.workers = 2, .events_from_start = true});
        std::vector<csp::job_id> ids;
        for (int i = 0; i < 5; ++i) ids.push_back(d.submit([i] { return i; }).id());
        d.wait_all();
        auto events = d.events();  // asked late: the early events are there
        EXPECT_TRUE(d.shutdown());
        int started = 0;
        std::map<csp::job_id, std::vector<job_state>> seen;
        for (const auto& e : events) {
            if (e.what == csp::dispatcher_event::kind::worker_started) ++started;
            if (e.what == csp::dispatcher_event::kind::job) seen[e.job].push_back(e.state);
        }
        EXPECT_EQ(started, 2);
        ASSERT_EQ(seen.size(), ids.size());
        for (const csp::job_id id : ids)
            EXPECT_EQ(seen[id], (std::vector<job_state>{job_state::queued, job_state::running, job_state::succeeded}))
                << "job " << id;
    });
}

}  // namespace
}  // namespace csp_test
