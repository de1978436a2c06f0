// csp::dispatcher: jobs that wait for a time: submit_at / submit_after, and
// retries with backoff.
#include <atomic>
#include <stdexcept>
#include <vector>

#include "dispatcher_test_util.hpp"

namespace csp_test {
namespace {

class DispatcherSchedule : public SettingTest {};

/// A fixed backoff, so the tests need no seconds.
csp::job_options retrying(unsigned n, steady::duration each = 2ms) {
    return {.retries = n, .backoff = [each](unsigned) -> steady::duration { return each; }};
}

TEST(SidekiqBackoff, GrowsAsRetryToTheFourthWithJitter) {
    using std::chrono::seconds;
    for (unsigned n = 1; n <= 5; ++n)
        for (int k = 0; k < 50; ++k) {
            const auto d = csp::sidekiq_backoff(n);
            const long long base = static_cast<long long>(n) * n * n * n + 15;
            EXPECT_GE(d, seconds(base));
            EXPECT_LE(d, seconds(base + 9LL * (n + 1)));
        }
}

TEST_P(DispatcherSchedule, SubmitAfterHoldsTheJobScheduled) {
    run([] {
        dispatcher d(2);
        const auto t0 = steady::now();
        auto h = d.submit_after(30ms, [] { return steady::now(); });
        const job_state st = h.status();
        if (since(t0) < 30ms) {
            EXPECT_EQ(st, job_state::scheduled);  // asked before it was due
        }
        const steady::time_point ran_at = h.get();
        EXPECT_GE(ran_at - t0, 30ms);
        EXPECT_EQ(h.info().state, job_state::succeeded);
        // A time in the past: queued at once.
        auto now = d.submit_at(steady::now() - 1s, [] { return 1; });
        EXPECT_EQ(now.get(), 1);
    });
}

TEST_P(DispatcherSchedule, ScheduledJobsStartInTimeOrder) {
    run([] {
        dispatcher d(1);
        csp::chan<int> order(8);
        const auto t0 = steady::now();
        for (int k : {3, 1, 2}) d.submit_at(t0 + k * 10ms, [&order, k] { order.send(k); });
        d.wait_all();
        std::vector<int> got;
        for (int i = 0; i < 3; ++i) got.push_back(*order.recv());
        EXPECT_EQ(got, (std::vector<int>{1, 2, 3}));
    });
}

TEST_P(DispatcherSchedule, CancelAndShutdownNowReachScheduledJobs) {
    run([] {
        dispatcher d(1);
        std::atomic<int> ran{0};
        auto a = d.submit_after(1h, [&ran] { ++ran; });
        auto b = d.submit_after(1h, [&ran] { ++ran; });
        EXPECT_EQ(a.cancel(), csp::cancel_result::cancelled);
        EXPECT_EQ(a.status(), job_state::cancelled);
        EXPECT_FALSE(d.wait_all_for(10ms));  // b is open
        EXPECT_TRUE(d.shutdown(stop_mode::now, patience));
        EXPECT_EQ(b.status(), job_state::cancelled);
        EXPECT_EQ(ran, 0);
    });
}

TEST_P(DispatcherSchedule, FailingJobIsRetriedUntilItSucceeds) {
    run([] {
        dispatcher d(2);
        std::atomic<int> calls{0};
        std::vector<steady::time_point> starts(3);
        auto h = d.submit(
            [&]() -> int {
                const int n = calls++;
                starts[static_cast<std::size_t>(n)] = steady::now();
                if (n < 2) throw std::runtime_error("flaky " + std::to_string(n));
                return 7;
            },
            retrying(3, 10ms));
        EXPECT_EQ(h.get(), 7);
        const csp::job_info i = h.info();
        EXPECT_EQ(i.state, job_state::succeeded);
        EXPECT_EQ(i.attempts, 3u);
        EXPECT_EQ(calls, 3);
        EXPECT_GE(starts[1] - starts[0], 10ms);  // the backoff was waited
        EXPECT_GE(starts[2] - starts[1], 10ms);
    });
}

TEST_P(DispatcherSchedule, RetriesRunOutAndTheLastErrorStays) {
    run([] {
        dispatcher d(1);
        std::atomic<int> calls{0};
        auto h = d.submit([&calls]() -> int { throw std::runtime_error("try " + std::to_string(calls++)); },
                          retrying(2));
        try {
            (void)h.get();
            ADD_FAILURE() << "no exception";
        } catch (const std::runtime_error& e) {
            EXPECT_STREQ(e.what(), "try 2");
        }
        const csp::job_info i = h.info();
        EXPECT_EQ(i.state, job_state::failed);
        EXPECT_EQ(i.attempts, 3u);
        EXPECT_EQ(i.error, "try 2");
    });
}

TEST_P(DispatcherSchedule, TimedOutJobIsRetried) {
    run([] {
        dispatcher d(1);
        std::atomic<int> calls{0};
        auto opts = retrying(1);
        opts.timeout = 5ms;
        auto h = d.submit(
            [&calls](const csp::context& ctx) {
                if (calls++ == 0) ctx.done().recv();  // the first attempt times out
                return 1;
            },
            opts);
        EXPECT_EQ(h.get(), 1);
        EXPECT_EQ(h.info().attempts, 2u);
    });
}

TEST_P(DispatcherSchedule, CancelWhileRetryingEndsCancelled) {
    run([] {
        dispatcher d(1);
        csp::chan<csp::unit> failed(1);
        auto h = d.submit(
            [&failed] {
                failed.send(csp::unit{});
                throw std::runtime_error("again");
            },
            retrying(5, 1h));
        failed.recv();
        const auto t0 = steady::now();
        while (h.status() != job_state::retrying && since(t0) < patience) csp::sleep_for(100us);
        ASSERT_EQ(h.status(), job_state::retrying);
        EXPECT_EQ(h.info().error, "again");
        EXPECT_EQ(h.cancel(), csp::cancel_result::cancelled);
        EXPECT_TRUE(throws_code(csp::dispatcher_errc::job_cancelled, [&] { h.get(); }));
        EXPECT_EQ(h.info().attempts, 1u);
    });
}

CSP_INSTANTIATE_SETTINGS(DispatcherSchedule);

}  // namespace
}  // namespace csp_test
