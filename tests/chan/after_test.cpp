// csp::after: a time no earlier than the deadline, in selects too.
#include <fiber/sleep.hpp>
#include <chan/time.hpp>

#include "harness/harness.hpp"

namespace csp_test {
namespace {

class After : public SettingTest {};

TEST_P(After, DeliversATimeNoEarlierThanTheDeadline) {
    run([] {
        for (auto d : {0ms, 1ms, 5ms, 20ms, -3ms}) {
            const auto t0 = steady::now();
            auto v = csp::after(d).recv();
            ASSERT_TRUE(v.has_value());
            EXPECT_TRUE(on_time(*v, t0 + d)) << d.count() << " ms";
            EXPECT_LE(*v, steady::now());
        }
    });
}

TEST_P(After, SelectTimesOutWhenNothingElseIsReady) {
    run([] {
        csp::chan<int> never;
        const auto t0 = steady::now();
        bool timed_out = false;
        const int idx = csp::select(csp::case_recv(never), csp::case_recv(csp::after(20ms), [&](auto v) {
                                        ASSERT_TRUE(v.has_value());
                                        EXPECT_TRUE(on_time(*v, t0 + 20ms));
                                        timed_out = true;
                                    }));
        EXPECT_EQ(idx, 1);
        EXPECT_TRUE(timed_out);
        EXPECT_TRUE(on_time(steady::now(), t0 + 20ms));
    });
}

TEST_P(After, AValueArrivingFirstBeatsTheTimeout) {
    csp::chan<int> ch;
    task sender(partner_on_thread(mode()), [&] { ch.send(7); });
    run([&] {
        const auto t0 = steady::now();
        std::optional<int> got;
        const int idx = csp::select(csp::case_recv(csp::after(10s)),
                                    csp::case_recv(ch, [&](std::optional<int> v) { got = v; }));
        EXPECT_EQ(idx, 1);
        EXPECT_EQ(got, 7);
        EXPECT_LT(steady::now() - t0, generous);
    });
}

// 10,000 goroutines (fewer threads) each wait on their own after(1-20 ms).
TEST_P(After, ManyConcurrentTimersAllFireNoneEarly) {
#if defined(__SANITIZE_THREAD__)
    const int n = mode() == setting::goroutines ? 2000 : 64;  // 10,000 took 10 s under ThreadSanitizer
#else
    const int n = mode() == setting::goroutines ? 10000 : 64;
#endif
    std::atomic<int> fired{0}, early{0};
    run_tasks(mode(), n, [&](int) {
        const auto d = 1ms * random_between(1, 20);
        const auto t0 = steady::now();
        auto v = csp::after(d).recv();
        if (v) fired.fetch_add(1);
        if (!v || *v < t0 + d || steady::now() < t0 + d) early.fetch_add(1);
    });
    EXPECT_EQ(fired.load(), n);
    EXPECT_EQ(early.load(), 0);
}

CSP_INSTANTIATE_ALL_SETTINGS(After);

}  // namespace
}  // namespace csp_test
