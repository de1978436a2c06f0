// csp::timer, csp::ticker and csp::tick, from a goroutine and a plain thread.
#include <fiber/sleep.hpp>
#include <chan/time.hpp>

#include <mutex>

#include "harness/harness.hpp"

namespace csp_test {
namespace {

class Timer : public SettingTest {};

/// Receives the next value of a timer channel (failing if none comes
/// promptly) and checks it is no earlier than `earliest`.
void expect_fires(const csp::recv_chan<steady::time_point>& c, steady::time_point earliest) {
    auto v = c.recv_for(generous);
    ASSERT_TRUE(v) << "no value within " << ms(generous) << " ms";
    EXPECT_TRUE(on_time(*v, earliest));
    EXPECT_TRUE(on_time(steady::now(), earliest));
}

/// Waits until a timer has fired, leaving its value in the channel (which
/// reports len() == 0 as Go 1.23's does: look at its state).
void wait_fired_unreceived(const csp::recv_chan<steady::time_point>& c) {
    EXPECT_TRUE(yield_until([&] {
        std::lock_guard lk(c.base()->mu);
        return c.base()->buffered_locked() == 1;
    }));
}

TEST_P(Timer, FiresOnceNoEarlier) {
    run([] {
        for (auto d : {0ms, 3ms, 15ms, -1ms}) {
            const auto t0 = steady::now();
            csp::timer t(d);
            expect_fires(t.c, t0 + d);
            csp::sleep_for(5ms);
            EXPECT_EQ(t.c.try_recv().status, csp::chan_status::would_block) << "a second value";
        }
    });
}

TEST_P(Timer, StopBeforeFiringPreventsIt) {
    run([] {
        const auto t0 = steady::now();
        csp::timer t(100ms);
        EXPECT_TRUE(t.stop());
        EXPECT_FALSE(t.stop());
        csp::sleep_until(t0 + 250ms);  // well past the deadline
        EXPECT_EQ(t.c.try_recv().status, csp::chan_status::would_block);
    });
}

TEST_P(Timer, StopAfterFiringReturnsFalse) {
    run([] {
        const auto t0 = steady::now();
        csp::timer received(1ms);
        expect_fires(received.c, t0 + 1ms);
        EXPECT_FALSE(received.stop());

        // Fired, value not taken yet: stop() drops the value and reports the
        // timer stopped (Go 1.23: true until the value is received).
        csp::timer pending(1ms);
        wait_fired_unreceived(pending.c);
        EXPECT_TRUE(pending.stop());
        EXPECT_EQ(pending.c.try_recv().status, csp::chan_status::would_block);
    });
}

TEST_P(Timer, ResetRearms) {
    run([] {
        // Active: reset moves the deadline (earlier, then later).
        csp::timer t(1h);
        auto tr = steady::now();
        EXPECT_TRUE(t.reset(10ms));
        expect_fires(t.c, tr + 10ms);
        // Fired and received: reset reports that, and it fires again.
        tr = steady::now();
        EXPECT_FALSE(t.reset(5ms));
        expect_fires(t.c, tr + 5ms);

        csp::timer later(50ms);
        tr = steady::now();
        EXPECT_TRUE(later.reset(100ms));
        expect_fires(later.c, tr + 100ms);

        // Fired, value not taken: reset drops the stale value (and says
        // true: not received); what arrives is the new firing.
        csp::timer stale(1ms);
        wait_fired_unreceived(stale.c);
        tr = steady::now();
        EXPECT_TRUE(stale.reset(10ms));
        expect_fires(stale.c, tr + 10ms);
    });
}

// One actor waits on the timer, the other kind re-arms it.
TEST_P(Timer, ResetFromAnotherActorWakesTheWaiter) {
    csp::timer t(1h);
    task waiter(partner_on_thread(mode()), [&] {
        auto v = t.c.recv_for(generous);
        ASSERT_TRUE(v);
    });
    run([&] {
        EXPECT_TRUE(t.reset(5ms));
        EXPECT_TRUE(waiter.finished_within(generous));
    });
}

class Ticker : public SettingTest {};

/// Receives `n` ticks: each no earlier than start + k * period, increasing.
void expect_ticks(const csp::recv_chan<steady::time_point>& c, steady::time_point start, steady::duration period,
                  int n) {
    steady::time_point prev{};
    for (int k = 1; k <= n; ++k) {
        auto v = c.recv_for(generous);
        ASSERT_TRUE(v) << "tick " << k;
        EXPECT_TRUE(on_time(*v, start + k * period)) << "tick " << k;
        EXPECT_GT(*v, prev) << "tick " << k;
        prev = *v;
    }
}

TEST_P(Ticker, TicksAtThePeriodAndStopStopsThem) {
    constexpr auto period = 10ms;
    run([&] {
        const auto t0 = steady::now();
        csp::ticker tk(period);
        expect_ticks(tk.c, t0, period, 5);
        EXPECT_LT(steady::now() - t0, 5 * period + generous);
        tk.stop();
        csp::sleep_for(5 * period);
        EXPECT_EQ(tk.c.try_recv().status, csp::chan_status::would_block);
    });
}

TEST_P(Ticker, ResetChangesThePeriod) {
    run([] {
        csp::ticker tk(1h);
        const auto tr = steady::now();
        tk.reset(5ms);
        expect_ticks(tk.c, tr, 5ms, 3);
        tk.stop();
    });
}

// A receiver slower than the ticker: missed ticks are dropped, at most one
// waits in the channel, and ticking goes on.
TEST_P(Ticker, SlowReceiverMissesTicks) {
    run([] {
        csp::ticker tk(2ms);
        csp::sleep_for(30ms);
        EXPECT_EQ(tk.c.len(), 0u);  // presents as unbuffered; at most one tick waits inside
        auto first = tk.c.recv_for(generous);
        ASSERT_TRUE(first);
        auto next = tk.c.recv_for(generous);
        ASSERT_TRUE(next);
        EXPECT_GT(*next, *first);
        tk.stop();
    });
}

TEST_P(Ticker, TickChannel) {
    run([] {
        const auto t0 = steady::now();
        auto c = csp::tick(5ms);
        expect_ticks(c, t0, 5ms, 4);
    });
}

CSP_INSTANTIATE_ALL_SETTINGS(Timer);
CSP_INSTANTIATE_SETTINGS(Ticker);

}  // namespace
}  // namespace csp_test
