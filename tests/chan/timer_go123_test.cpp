// Go 1.23's timer semantics: a timer's channel presents as unbuffered,
// stop/reset return true while the value has not been received and leave no
// stale value behind, Go's old stop idiom never blocks, and a timer nobody
// can receive from any more does not postpone the deadlock report.
#include <fiber/sleep.hpp>
#include <chan/select.hpp>
#include <chan/time.hpp>

#include <mutex>

#include "harness/harness.hpp"

namespace csp_test {
namespace {

using time_chan = csp::recv_chan<steady::time_point>;

/// Whether a value waits inside the timer's channel (cap() and len() say 0
/// by design, so this looks at the channel's state).
bool holds_value(const time_chan& c) {
    csp::detail::chan_base* b = c.base();
    std::lock_guard lk(b->mu);
    return b->buffered_locked() == 1;
}

/// Waits until the timer has fired, its value not received.
void wait_fired_unreceived(const time_chan& c) { ASSERT_TRUE(yield_until([&] { return holds_value(c); })); }

class Go123 : public SettingTest {};

TEST_P(Go123, TimerChannelsPresentAsUnbuffered) {
    run([] {
        csp::timer t(1ms);
        auto a = csp::after(1ms);
        csp::ticker tk(1ms);
        auto tc = csp::tick(1ms);
        for (const time_chan* c : {&t.c, &a, &tk.c, &tc}) {
            EXPECT_EQ(c->cap(), 0u);
            wait_fired_unreceived(*c);
            EXPECT_EQ(c->cap(), 0u) << "fired";
            EXPECT_EQ(c->len(), 0u) << "fired, value not received";
            EXPECT_TRUE(c->try_recv()) << "the fired value is there to receive";
        }
        tk.stop();
    });
}

// Go's pre-1.23 idiom: `if (!t.Stop()) <-t.C`. On a timer that fired while
// nobody received, stop() now returns true, so the receive is skipped.
TEST_P(Go123, TheStopIdiomNeverBlocks) {
    run([] {
        csp::timer t(1ms);
        wait_fired_unreceived(t.c);
        const bool stopped = t.stop();
        EXPECT_TRUE(stopped) << "fired but not received: stop must report it as stopped";
        if (!stopped) {
            EXPECT_FALSE(t.c.recv_for(generous)) << "the idiom's receive would have blocked";
        }
        EXPECT_EQ(t.c.try_recv().status, csp::chan_status::would_block) << "a stale value after stop";
        EXPECT_FALSE(t.stop()) << "already stopped";

        // Received: stop reports false, and the idiom's receive is not needed
        // either (it is skipped only when stop says true).
        csp::timer r(1ms);
        ASSERT_TRUE(r.c.recv_for(generous));
        EXPECT_FALSE(r.stop());
    });
}

TEST_P(Go123, ResetOfAFiredUnreceivedTimerReturnsTrueAndDropsTheValue) {
    run([] {
        csp::timer t(1ms);
        wait_fired_unreceived(t.c);
        const auto t0 = steady::now();
        EXPECT_TRUE(t.reset(20ms)) << "the value had not been received";
        auto v = t.c.recv_for(generous);
        ASSERT_TRUE(v);
        EXPECT_TRUE(on_time(*v, t0 + 20ms)) << "received the stale value, not the new firing";
        EXPECT_FALSE(t.reset(1h)) << "received: reset reports that";
        EXPECT_TRUE(t.stop());
    });
}

TEST_P(Go123, TickerStopAndResetDropAPendingTick) {
    run([] {
        csp::ticker tk(1ms);
        wait_fired_unreceived(tk.c);
        tk.stop();
        EXPECT_EQ(tk.c.try_recv().status, csp::chan_status::would_block) << "a stale tick after stop";

        csp::ticker tr(1ms);
        wait_fired_unreceived(tr.c);
        const auto t0 = steady::now();
        tr.reset(20ms);
        auto v = tr.c.recv_for(generous);
        ASSERT_TRUE(v);
        EXPECT_TRUE(on_time(*v, t0 + 20ms)) << "received the stale tick, not one of the new period";
        tr.stop();
    });
}

// A receiver already blocked when stop() runs is not woken by it, and gets
// the value of a later reset (the timer's channel is never closed).
TEST_P(Go123, AWaiterBlockedAcrossStopGetsTheNextFiring) {
    csp::timer t(1h);
    const bool on_thread = partner_on_thread(mode());
    task waiter(on_thread, [&] { EXPECT_TRUE(t.c.recv()); });
    run([&] {
        ASSERT_TRUE(wait_until_blocked(on_thread ? setting::threads : setting::goroutines, 1, "chan receive",
                                       object_of(t.c)));
        EXPECT_TRUE(t.stop());
        EXPECT_FALSE(waiter.finished());
        EXPECT_FALSE(t.reset(1ms)) << "stopped: not active";
        EXPECT_TRUE(waiter.finished_within(generous));
    });
}

// A dropped timer channel is no longer armed: dropping many after(1h) leaves
// nothing behind that a later test could trip on, and a held one still fires.
TEST_P(Go123, AHeldTimerChannelStillFires) {
    run([] {
        for (int i = 0; i < 1000; ++i) (void)csp::after(1h);
        auto held = csp::after(2ms);
        auto c = csp::case_recv(csp::after(3ms));  // a case object holds its channel
        EXPECT_TRUE(held.recv_for(generous));
        EXPECT_EQ(csp::select(c), 0);
    });
}

CSP_INSTANTIATE_ALL_SETTINGS(Go123);

class Go123Death : public ::testing::Test {
protected:
    void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

// Go 1.23: an unreferenced timer does not count: a dropped after(1h) must
// not keep the deadlock report waiting for an hour (the child gives up
// after `patience`, failing with status 124).
TEST_F(Go123Death, ADroppedAfterDoesNotPostponeTheDeadlockReport) {
    EXPECT_EXIT(
        {
            bound_child();
            csp::run([] {
                csp::chan<int> ch;
                (void)csp::after(1h);
                ch.recv();
            });
        },
        ::testing::ExitedWithCode(2), "all goroutines are asleep - deadlock!");
}

// The same with the timer held for a while first, so that an idle scheduler
// thread went to sleep until its deadline before it was dropped.
TEST_F(Go123Death, ATimerDroppedAfterSchedulerThreadsSleptOnItDoesNotPostponeTheReport) {
    EXPECT_EXIT(
        {
            bound_child();
            csp::run([] {
                csp::chan<int> ch;
                {
                    csp::timer t(1h);
                    auto a = csp::after(1h);
                    csp::sleep_for(20ms);  // the other scheduler threads park until the timers' deadline
                }
                ch.recv();
            });
        },
        ::testing::ExitedWithCode(2), "all goroutines are asleep - deadlock!");
}

// The same with the program's main a plain thread (a goroutine blocked too,
// so that there is a goroutine to report).
TEST_F(Go123Death, ADroppedAfterDoesNotPostponeTheReportOnAPlainThread) {
    EXPECT_EXIT(
        {
            bound_child();
            csp::chan<int> ch;
            csp::go([ch] { ch.recv(); });
            (void)csp::after(1h);
            auto kept = csp::after(1h);
            kept = nullptr;
            csp::chan<int>().recv();
        },
        ::testing::ExitedWithCode(2), "all goroutines are asleep - deadlock!");
}

}  // namespace
}  // namespace csp_test
