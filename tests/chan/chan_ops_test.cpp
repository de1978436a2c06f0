// Non-blocking and timed channel operations, and the nil channel.
#include "harness/harness.hpp"

#include <memory>

namespace {

using namespace csp_test;
using csp::chan;
using csp::chan_status;

class ChanOps : public SettingTest {};
CSP_INSTANTIATE_SETTINGS(ChanOps);

TEST_P(ChanOps, TryRecvReportsWouldBlockOkAndClosed) {
    run([&] {
        chan<int> ch(1);
        auto r = ch.try_recv();
        EXPECT_EQ(r.status, chan_status::would_block);
        EXPECT_FALSE(r);
        EXPECT_FALSE(r.value.has_value());
        ASSERT_TRUE(ch.try_send(3));
        r = ch.try_recv();
        ASSERT_TRUE(r);
        EXPECT_EQ(r.status, chan_status::ok);
        EXPECT_EQ(*r, 3);
        ch.close();
        r = ch.try_recv();
        EXPECT_EQ(r.status, chan_status::closed);
        EXPECT_FALSE(r.value.has_value());
    });
}

TEST_P(ChanOps, TrySendReachesAWaitingReceiverOfAnUnbufferedChannel) {
    run([&] {
        chan<int> ch;
        task_group g(mode());
        std::optional<int> got;
        g.go([&] { got = ch.recv(); });
        // try_send succeeds exactly when the receiver is parked in recv.
        const auto t0 = steady::now();
        while (!ch.try_send(8)) {
            ASSERT_LT(since(t0), patience) << "try_send never met the blocked receiver";
            csp::yield();
        }
        g.wait();
        EXPECT_EQ(got, 8);
        EXPECT_FALSE(ch.try_send(9));
    });
}

TEST_P(ChanOps, TryRecvTakesFromABlockedSender) {
    run([&] {
        chan<int> ch;
        task_group g(mode());
        g.go([&] { ch.send(4); });
        const auto t0 = steady::now();
        csp::recv_result<int> r;
        while (!(r = ch.try_recv())) {
            ASSERT_EQ(r.status, chan_status::would_block);
            ASSERT_LT(since(t0), patience) << "try_recv never met the blocked sender";
            csp::yield();
        }
        EXPECT_EQ(*r, 4);
    });
}

TEST_P(ChanOps, RecvForAndRecvUntilTimeOut) {
    run([&] {
        chan<int> ch(1);
        auto t0 = steady::now();
        EXPECT_EQ(ch.recv_for(20ms).status, chan_status::timeout);
        EXPECT_GE(since(t0), 20ms);
        t0 = steady::now();
        auto r = ch.recv_until(t0 + 20ms);
        EXPECT_EQ(r.status, chan_status::timeout);
        EXPECT_FALSE(r.value.has_value());
        EXPECT_GE(since(t0), 20ms);
        // A deadline already passed: an immediate timeout.
        EXPECT_EQ(ch.recv_until(steady::now() - 1s).status, chan_status::timeout);
    });
}

TEST_P(ChanOps, ReadyValueWinsOverAPassedDeadline) {
    run([&] {
        chan<int> ch(1);
        ch.send(5);
        auto r = ch.recv_until(steady::now() - 1s);
        ASSERT_EQ(r.status, chan_status::ok);
        EXPECT_EQ(*r, 5);
        EXPECT_EQ(ch.send_until(6, steady::now() - 1s), chan_status::ok);
        EXPECT_EQ(ch.recv(), 6);
    });
}

TEST_P(ChanOps, ValueArrivingBeforeTheDeadlineIsReceived) {
    run([&] {
        chan<int> ch;
        task_group g(mode());
        g.go([&] {
            EXPECT_TRUE(wait_until_blocked_with_deadline(main_on_thread(mode()), 1, "chan receive", object_of(ch)));
            ch.send(11);
        });
        const auto t0 = steady::now();
        auto r = ch.recv_for(patience);
        EXPECT_EQ(r.status, chan_status::ok);
        EXPECT_EQ(r.value, 11);
        EXPECT_LT(since(t0), patience);
    });
}

TEST_P(ChanOps, SendForTimesOutOnAFullBufferAndKeepsTheValue) {
    run([&] {
        chan<std::unique_ptr<int>> ch(1);
        ch.send(std::make_unique<int>(1));
        auto p = std::make_unique<int>(2);
        const auto t0 = steady::now();
        EXPECT_EQ(ch.send_for(std::move(p), 20ms), chan_status::timeout);
        EXPECT_GE(since(t0), 20ms);
        ASSERT_NE(p, nullptr);
        EXPECT_EQ(*p, 2);
        EXPECT_EQ(ch.send_until(std::move(p), steady::now() + 5ms), chan_status::timeout);
        EXPECT_NE(p, nullptr);
        EXPECT_EQ(ch.len(), 1u);
    });
}

TEST_P(ChanOps, SendForSucceedsWhenAReceiverComes) {
    run([&] {
        chan<int> ch;
        task_group g(mode());
        std::optional<int> got;
        g.go([&] {
            EXPECT_TRUE(wait_until_blocked_with_deadline(main_on_thread(mode()), 1, "chan send", object_of(ch)));
            got = ch.recv();
        });
        EXPECT_EQ(ch.send_for(12, patience), chan_status::ok);
        g.wait();
        EXPECT_EQ(got, 12);
    });
}

TEST_P(ChanOps, TimedOutReceiverLeavesNoTraceInTheChannel) {
    run([&] {
        // A receiver that gave up must not swallow a later value.
        chan<int> ch;
        EXPECT_EQ(ch.recv_for(2ms).status, chan_status::timeout);
        EXPECT_FALSE(ch.try_send(1)) << "a timed-out receiver took a value";
        chan<int> buffered(1);
        EXPECT_EQ(buffered.recv_for(2ms).status, chan_status::timeout);
        ASSERT_TRUE(buffered.try_send(2));
        EXPECT_EQ(buffered.len(), 1u);
        EXPECT_EQ(buffered.recv(), 2);
    });
}

TEST_P(ChanOps, NilChannelNeverCommunicates) {
    run([&] {
        auto ch = chan<int>::nil();
        EXPECT_TRUE(ch.is_nil());
        EXPECT_FALSE(chan<int>(1).is_nil());
        EXPECT_EQ(ch.len(), 0u);
        EXPECT_EQ(ch.cap(), 0u);
        EXPECT_FALSE(ch.try_send(1));
        EXPECT_EQ(ch.try_recv().status, chan_status::would_block);
        auto t0 = steady::now();
        EXPECT_EQ(ch.recv_for(10ms).status, chan_status::timeout);
        EXPECT_GE(since(t0), 10ms);
        t0 = steady::now();
        EXPECT_EQ(ch.send_for(1, 10ms), chan_status::timeout);
        EXPECT_GE(since(t0), 10ms);
        EXPECT_TRUE(ch == chan<int>::nil());
    });
}

}  // namespace
