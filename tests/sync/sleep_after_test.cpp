// csp::sleep_for / sleep_until and csp::after: never early, and sleeping
// parks only the goroutine.
#include <fiber/sleep.hpp>
#include <chan/time.hpp>

#include "sync_test_util.hpp"

namespace synctest {
namespace {

class Sleep : public testing::TestWithParam<mode> {};

TEST_P(Sleep, NeverReturnsEarly) {
    run_workers(GetParam(), 8, [](int i) {
        for (auto d : {0ms, 1ms, 2ms, 3ms + 1ms * i}) {
            auto t0 = clk::now();
            csp::sleep_for(d);
            EXPECT_TRUE(on_time(clk::now(), t0 + d)) << "sleep_for " << d.count() << " ms";
            const auto until = clk::now() + d;
            csp::sleep_until(until);
            EXPECT_TRUE(on_time(clk::now(), until)) << "sleep_until +" << d.count() << " ms";
        }
        // Finer than a millisecond: rounded up, never down.
        const auto t0 = clk::now();
        csp::sleep_for(std::chrono::microseconds(300));
        EXPECT_TRUE(on_time(clk::now(), t0 + std::chrono::microseconds(300)));
    });
}

TEST_P(Sleep, PastDeadlinesReturnPromptly) {
    run_workers(GetParam(), 4, [](int) {
        const auto t0 = clk::now();
        csp::sleep_for(-5ms);
        csp::sleep_until(t0 - 1s);
        csp::sleep_until(clk::time_point::min());
        EXPECT_LT(clk::now() - t0, generous);
    });
}

TEST_P(Sleep, ManyConcurrentSleepersNeverEarly) {
    const int n = GetParam() == mode::goroutines ? 1000 : 32;
    std::atomic<int> early{0};
    run_workers(GetParam(), n, [&](int) {
        const auto d = 1ms * random_between(1, 10);
        const auto t0 = clk::now();
        csp::sleep_for(d);
        if (clk::now() < t0 + d) early.fetch_add(1);
    });
    EXPECT_EQ(early.load(), 0);
}

// On one scheduler thread, a sleeping goroutine leaves the thread to the
// others: 1000 channel round trips finish while it sleeps 50 ms.
TEST(SleepGoroutines, SleeperDoesNotBlockOthersOnItsThread) {
    constexpr int round_trips = 1000;
    std::atomic<int> done_trips{0};
    int trips_when_woken = -1;
    csp::run([&] {
        csp::chan<csp::unit> sleeping, woke;
        csp::go([&] {
            sleeping.send(csp::unit{});
            const auto t0 = clk::now();
            csp::sleep_for(50ms);
            EXPECT_TRUE(on_time(clk::now(), t0 + 50ms));
            trips_when_woken = done_trips.load();
            woke.send(csp::unit{});
        });
        sleeping.recv();
        csp::chan<int> ping, pong;
        csp::go([=] {
            for (int v : ping) pong.send(v + 1);
        });
        for (int i = 0; i < round_trips; ++i) {
            ping.send(i);
            EXPECT_EQ(pong.recv(), i + 1);
            done_trips.fetch_add(1);
        }
        ping.close();
        woke.recv();
    });
    EXPECT_EQ(trips_when_woken, round_trips) << "procs=" << csp::procs();
}

class After : public testing::TestWithParam<mode> {};

TEST_P(After, DeliversATimeNoEarlierThanTheDeadline) {
    as_main(main_on_thread(GetParam()), [] {
        for (auto d : {0ms, 1ms, 5ms, 20ms, -3ms}) {
            const auto t0 = clk::now();
            auto v = csp::after(d).recv();
            ASSERT_TRUE(v.has_value());
            EXPECT_TRUE(on_time(*v, t0 + d)) << d.count() << " ms";
            EXPECT_LE(*v, clk::now());
        }
    });
}

TEST_P(After, SelectTimesOutWhenNothingElseIsReady) {
    as_main(main_on_thread(GetParam()), [] {
        csp::chan<int> never;
        const auto t0 = clk::now();
        bool timed_out = false;
        const int idx = csp::select(csp::case_recv(never), csp::case_recv(csp::after(20ms), [&](auto v) {
                                        ASSERT_TRUE(v.has_value());
                                        EXPECT_TRUE(on_time(*v, t0 + 20ms));
                                        timed_out = true;
                                    }));
        EXPECT_EQ(idx, 1);
        EXPECT_TRUE(timed_out);
        EXPECT_TRUE(on_time(clk::now(), t0 + 20ms));
    });
}

TEST_P(After, AValueArrivingFirstBeatsTheTimeout) {
    csp::chan<int> ch;
    task sender(partner_on_thread(GetParam()), [&] { ch.send(7); });
    as_main(main_on_thread(GetParam()), [&] {
        const auto t0 = clk::now();
        std::optional<int> got;
        const int idx = csp::select(csp::case_recv(csp::after(10s)),
                                    csp::case_recv(ch, [&](std::optional<int> v) { got = v; }));
        EXPECT_EQ(idx, 1);
        EXPECT_EQ(got, 7);
        EXPECT_LT(clk::now() - t0, generous);
    });
}

// 10,000 goroutines (fewer threads) each wait on their own after(1-20 ms).
TEST_P(After, ManyConcurrentTimersAllFireNoneEarly) {
    const int n = GetParam() == mode::goroutines ? 10000 : 64;
    std::atomic<int> fired{0}, early{0};
    run_workers(GetParam(), n, [&](int) {
        const auto d = 1ms * random_between(1, 20);
        const auto t0 = clk::now();
        auto v = csp::after(d).recv();
        if (v) fired.fetch_add(1);
        if (!v || *v < t0 + d || clk::now() < t0 + d) early.fetch_add(1);
    });
    EXPECT_EQ(fired.load(), n);
    EXPECT_EQ(early.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, Sleep, testing::Values(mode::goroutines, mode::threads, mode::mixed), mode_name());
INSTANTIATE_TEST_SUITE_P(Modes, After, testing::Values(mode::goroutines, mode::threads, mode::mixed), mode_name());

}  // namespace
}  // namespace synctest
