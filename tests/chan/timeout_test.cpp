// recv_for / send_for / *_until: timed parking of goroutines and timed
// blocking of plain threads.
#include <memory>

#include <fiber/sleep.hpp>

#include "harness/harness.hpp"

namespace csp_test {
namespace {

class TimedChan : public SettingTest {};

TEST_P(TimedChan, RecvTimesOutNoEarlierAndLeavesNoWaiter) {
    run([] {
        for (std::size_t cap : {0u, 4u}) {
            csp::chan<int> ch(cap);
            auto t0 = steady::now();
            auto r = ch.recv_for(15ms);
            EXPECT_EQ(r.status, csp::chan_status::timeout);
            EXPECT_FALSE(r.value.has_value());
            EXPECT_TRUE(on_time(steady::now(), t0 + 15ms));
            const auto until = steady::now() + 10ms;
            EXPECT_EQ(ch.recv_until(until).status, csp::chan_status::timeout);
            EXPECT_TRUE(on_time(steady::now(), until));
            // Unbuffered: no receiver is left behind to take this.
            EXPECT_EQ(ch.try_send(1), cap > 0) << "cap " << cap;
        }
    });
}

TEST_P(TimedChan, SendTimesOutNoEarlierAndKeepsTheValue) {
    run([] {
        csp::chan<std::unique_ptr<int>> unbuffered, full(1);
        full.send(std::make_unique<int>(1));
        for (auto* ch : {&unbuffered, &full}) {
            auto p = std::make_unique<int>(2);
            auto t0 = steady::now();
            EXPECT_EQ(ch->send_for(std::move(p), 15ms), csp::chan_status::timeout);
            EXPECT_TRUE(on_time(steady::now(), t0 + 15ms));
            ASSERT_TRUE(p) << "a send that timed out consumed its value";
            const auto until = steady::now() + 10ms;
            EXPECT_EQ(ch->send_until(std::move(p), until), csp::chan_status::timeout);
            EXPECT_TRUE(on_time(steady::now(), until));
            EXPECT_TRUE(p);
        }
        // Nothing from the timed-out sends got in.
        EXPECT_EQ(unbuffered.try_recv().status, csp::chan_status::would_block);
        auto v = full.try_recv();
        ASSERT_TRUE(v);
        EXPECT_EQ(**v, 1);
        EXPECT_EQ(full.try_recv().status, csp::chan_status::would_block);
    });
}

// The partner arrives after a short while (usually after the timed waiter
// parked): the value wins over a far deadline, promptly.
TEST_P(TimedChan, ValueArrivingBeforeTheDeadlineWins) {
    constexpr int rounds = 20;
    csp::chan<int> to_main, from_main;
    task partner(partner_on_thread(mode()), [&] {
        for (int i = 0; i < rounds; ++i) {
            csp::sleep_for(std::chrono::microseconds(random_between(0, 1000)));
            EXPECT_EQ(to_main.send_for(i, 10s), csp::chan_status::ok);
            auto r = from_main.recv_for(10s);
            ASSERT_TRUE(r);
            EXPECT_EQ(*r, -i);
        }
    });
    run([&] {
        for (int i = 0; i < rounds; ++i) {
            const auto t0 = steady::now();
            auto r = to_main.recv_for(10s);
            ASSERT_TRUE(r);
            EXPECT_EQ(*r, i);
            csp::sleep_for(std::chrono::microseconds(random_between(0, 1000)));
            EXPECT_EQ(from_main.send_for(-i, 10s), csp::chan_status::ok);
            EXPECT_LT(steady::now() - t0, generous);
        }
    });
}

TEST_P(TimedChan, PastDeadlineStillTakesWhatIsReady) {
    run([] {
        csp::chan<int> ch(1);
        const auto past = steady::now() - 1s;
        EXPECT_EQ(ch.send_until(5, past), csp::chan_status::ok);
        EXPECT_EQ(ch.send_for(6, -1ms), csp::chan_status::timeout);
        auto r = ch.recv_until(past);
        ASSERT_TRUE(r);
        EXPECT_EQ(*r, 5);
        EXPECT_EQ(ch.recv_for(0ms).status, csp::chan_status::timeout);
        ch.close();
        const auto t0 = steady::now();
        EXPECT_EQ(ch.recv_for(10s).status, csp::chan_status::closed);
        EXPECT_LT(steady::now() - t0, generous);
    });
}

CSP_INSTANTIATE_ALL_SETTINGS(TimedChan);

}  // namespace
}  // namespace csp_test
