// csp::dispatcher's unique keys (job_options::unique_key, asynq's Unique):
// while a job with a key is open, a submit with that key returns that job;
// once it is final the key is free.
#include <atomic>
#include <set>
#include <string>
#include <vector>

#include "dispatcher_test_util.hpp"

namespace csp_test {
namespace {

class DispatcherUnique : public SettingTest {};

TEST_P(DispatcherUnique, SecondSubmitWhileOpenReturnsTheOpenJob) {
    run([] {
        dispatcher d(1);
        gate g;
        std::atomic<int> first_runs{0}, second_runs{0};
        csp::chan<csp::unit> started;
        auto a = d.submit(
            [&] {
                ++first_runs;
                started.send(csp::unit{});
                g.wait();
                return 1;
            },
            {.name = "a", .unique_key = "k"});
        // Queued (the worker may not have it yet) and then running: the same job.
        auto b = d.submit([&] { return ++second_runs, 2; }, {.unique_key = "k"});
        EXPECT_EQ(b.id(), a.id());
        started.recv();
        auto c = d.submit([&] { return ++second_runs, 3; }, {.unique_key = "k"});
        EXPECT_EQ(c.id(), a.id());
        // Another key, or none, is another job.
        auto other = d.submit([] { return 4; }, {.unique_key = "other"});
        EXPECT_NE(other.id(), a.id());
        g.open();
        EXPECT_EQ(c.get(), 1);  // the open job's value
        EXPECT_EQ(b.get(), 1);
        EXPECT_EQ(other.get(), 4);
        // Final: the key is free again.
        auto again = d.submit([] { return 5; }, {.unique_key = "k"});
        EXPECT_NE(again.id(), a.id());
        EXPECT_EQ(again.get(), 5);
        EXPECT_EQ(first_runs, 1);
        EXPECT_EQ(second_runs, 0);
        EXPECT_EQ(d.metrics().submitted, 3u);  // a, other, again
    });
}

TEST_P(DispatcherUnique, KeyIsHeldWhileScheduledAndFreedByCancel) {
    run([] {
        dispatcher d(1);
        auto later = d.submit_after(1h, [] { return 1; }, {.unique_key = "nightly"});
        EXPECT_EQ(d.submit([] { return 2; }, {.unique_key = "nightly"}).id(), later.id());
        EXPECT_EQ(later.cancel(), cancel_result::cancelled);
        auto now = d.submit([] { return 3; }, {.unique_key = "nightly"});
        EXPECT_NE(now.id(), later.id());
        EXPECT_EQ(now.get(), 3);
    });
}

TEST_P(DispatcherUnique, KeyIsHeldWhileRetrying) {
    run([] {
        dispatcher d(1);
        std::atomic<int> runs{0};
        csp::chan<csp::unit> failed_once(1);
        gate retry_gate;
        auto h = d.submit(
            [&] {
                if (++runs == 1) {
                    failed_once.send(csp::unit{});
                    throw std::runtime_error("first try fails");
                }
                return runs.load();
            },
            {.retries = 1, .backoff = [](unsigned) { return std::chrono::steady_clock::duration(1h); }, .unique_key = "r"});
        failed_once.recv();
        EXPECT_TRUE(yield_until([&] { return h.status() == job_state::retrying; }));
        EXPECT_EQ(d.submit([] { return 0; }, {.unique_key = "r"}).id(), h.id());
        h.cancel();
        EXPECT_NE(d.submit([] { return 0; }, {.unique_key = "r"}).id(), h.id());
        d.wait_all();
        EXPECT_EQ(runs, 1);
    });
}

TEST_P(DispatcherUnique, ManySubmittersOneJobRuns) {
    run([this] {
        constexpr int clients_n = 4, per_client = 50;
        dispatcher d(4);
        gate g;
        std::atomic<int> runs{0};
        std::vector<std::set<csp::job_id>> ids(clients_n);
        task_group clients(mode());
        clients.go_n(clients_n, [&](int c) {
            for (int i = 0; i < per_client; ++i) {
                auto h = d.submit(
                    [&] {
                        ++runs;
                        g.wait();
                    },
                    {.unique_key = "once"});
                ids[static_cast<std::size_t>(c)].insert(h.id());
            }
        });
        clients.wait();
        std::set<csp::job_id> all;
        for (const auto& s : ids) all.insert(s.begin(), s.end());
        ASSERT_EQ(all.size(), 1u) << "every submitter got the one open job";
        g.open();
        d.wait_all();
        EXPECT_EQ(runs, 1);
        EXPECT_EQ(d.metrics().submitted, 1u);
        EXPECT_EQ(d.info(*all.begin()).state, job_state::succeeded);
    });
}

TEST_P(DispatcherUnique, AnotherResultTypeIsAConflict) {
    run([] {
        dispatcher d(1);
        auto later = d.submit_after(1h, [] { return 1; }, {.unique_key = "typed"});
        EXPECT_TRUE(throws_code(dispatcher_errc::key_conflict,
                                [&] { (void)d.submit([] { return std::string("x"); }, {.unique_key = "typed"}); }));
        later.cancel();
    });
}

TEST_P(DispatcherUnique, DuplicateGivesItsQueueSlotBack) {
    run([] {
        dispatcher d({.workers = 1, .queue_limit = 2});
        gate g;
        csp::chan<csp::unit> started;
        d.submit([&] {
            started.send(csp::unit{});
            g.wait();
        });
        started.recv();  // the worker is held; the queue is empty
        auto keyed = d.submit([] { return 1; }, {.unique_key = "k"});  // one slot
        for (int i = 0; i < 5; ++i) EXPECT_EQ(d.submit([] { return 2; }, {.unique_key = "k"}).id(), keyed.id());
        EXPECT_TRUE(d.try_submit([] { return 3; }).has_value());    // the second slot is free
        EXPECT_FALSE(d.try_submit([] { return 4; }).has_value());   // and now none
        g.open();
        EXPECT_EQ(keyed.get(), 1);
    });
}

TEST_P(DispatcherUnique, AfterShutdownAKeyedSubmitFails) {
    run([] {
        dispatcher d(1);
        d.shutdown();
        EXPECT_TRUE(throws_code(dispatcher_errc::shut_down, [&] { d.submit([] {}, {.unique_key = "k"}); }));
    });
}

}  // namespace

CSP_INSTANTIATE_SETTINGS(DispatcherUnique);

}  // namespace csp_test
