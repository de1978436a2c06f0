// csp::chan: rendezvous, buffering, FIFO, len/cap, close, range-for.
#include "harness/harness.hpp"

#include <memory>
#include <numeric>

namespace {

using namespace csp_test;
using csp::chan;
using csp::chan_status;
using csp::closed_channel_error;

class Chan : public SettingTest {};
CSP_INSTANTIATE_SETTINGS(Chan);

TEST(ChanRuntime, ProcsMatchesTheRegistration) {
    if (expected_procs() == 0) GTEST_SKIP() << "CSP_PROCS not set";
    EXPECT_EQ(csp::procs(), expected_procs());
}

TEST_P(Chan, UnbufferedSendWaitsForAReceiver) {
    run([&] {
        chan<int> ch;
        EXPECT_EQ(ch.cap(), 0u);
        EXPECT_EQ(ch.len(), 0u);
        EXPECT_FALSE(ch.try_send(1));  // nobody receiving, no buffer
        std::atomic<bool> sent{false};
        task_group g(mode());
        g.go([&] {
            ch.send(42);
            sent = true;
        });
        EXPECT_TRUE(wait_until_blocked(mode(), 1, "chan send", object_of(ch)));
        EXPECT_FALSE(sent.load()) << "send completed without a receiver";
        EXPECT_EQ(ch.len(), 0u);
        EXPECT_EQ(ch.recv(), 42);
        g.wait();
        EXPECT_TRUE(sent.load());
    });
}

TEST_P(Chan, UnbufferedPingPongKeepsOrder) {
    run([&] {
        chan<int> ping, pong;
        task_group g(mode());
        g.go([=] {
            for (int v : ping) pong.send(v * 2);
            pong.close();
        });
        for (int i = 0; i < 2000; ++i) {
            ping.send(i);
            ASSERT_EQ(pong.recv(), 2 * i);
        }
        ping.close();
        EXPECT_EQ(pong.recv(), std::nullopt);
    });
}

TEST_P(Chan, EveryBufferSlotIsUsable) {
    run([&] {
        for (std::size_t n : {1u, 2u, 3u, 7u, 1024u}) {
            // (No SCOPED_TRACE: its stack is per thread, and a goroutine
            // may resume on another scheduler thread.)
            chan<int> ch(n);
            EXPECT_EQ(ch.cap(), n);
            for (std::size_t i = 0; i < n; ++i) {
                ASSERT_TRUE(ch.try_send(static_cast<int>(i))) << "capacity " << n << ", slot " << i;
                EXPECT_EQ(ch.len(), i + 1);
            }
            EXPECT_FALSE(ch.try_send(-1)) << "capacity " << n;
            EXPECT_EQ(ch.send_for(-1, 1ms), chan_status::timeout) << "capacity " << n;
            EXPECT_EQ(ch.len(), n);
            for (std::size_t i = 0; i < n; ++i) {
                auto r = ch.try_recv();
                ASSERT_EQ(r.status, chan_status::ok);
                EXPECT_EQ(*r, static_cast<int>(i));
            }
            EXPECT_EQ(ch.len(), 0u);
            EXPECT_EQ(ch.try_recv().status, chan_status::would_block);
        }
    });
}

TEST_P(Chan, FifoAcrossBufferWrapAround) {
    run([&] {
        for (std::size_t n : {1u, 2u, 3u, 7u}) {
            chan<int> ch(n);
            int next_in = 0, next_out = 0;
            // Keep the buffer partly full so head and tail wrap many times.
            for (int round = 0; round < 50; ++round) {
                while (ch.try_send(next_in)) ++next_in;
                for (std::size_t k = 0; k < (round % n) + 1; ++k) ASSERT_EQ(*ch.try_recv(), next_out++);
            }
            while (auto r = ch.try_recv()) ASSERT_EQ(*r, next_out++);
            EXPECT_EQ(next_in, next_out);
        }
    });
}

TEST_P(Chan, SenderBlockedOnFullBufferGoesAfterBufferedValues) {
    run([&] {
        chan<int> ch(2);
        ch.send(1);
        ch.send(2);
        chan<int> done(1);
        task_group g(mode());
        g.go([&] {
            ch.send(3);
            done.send(0);
        });
        EXPECT_TRUE(wait_until_blocked(mode(), 1, "chan send", object_of(ch)));
        EXPECT_EQ(done.try_recv().status, chan_status::would_block) << "send on a full buffer did not block";
        EXPECT_EQ(ch.recv(), 1);
        EXPECT_EQ(done.recv_for(patience).status, chan_status::ok);
        EXPECT_EQ(ch.len(), 2u);
        EXPECT_EQ(ch.recv(), 2);
        EXPECT_EQ(ch.recv(), 3);
    });
}

TEST_P(Chan, ReceiverBlockedOnEmptyBufferGetsTheNextValue) {
    run([&] {
        chan<int> ch(4);
        task_group g(mode());
        std::optional<int> got;
        g.go([&] { got = ch.recv(); });
        EXPECT_TRUE(wait_until_blocked(mode(), 1, "chan receive", object_of(ch)));
        ch.send(9);
        g.wait();
        EXPECT_EQ(got, 9);
        EXPECT_EQ(ch.len(), 0u);
    });
}

TEST_P(Chan, CloseLetsReceiversDrainThenReportsClosed) {
    run([&] {
        chan<int> ch(3);
        ch.send(1);
        ch.send(2);
        ch.close();
        EXPECT_EQ(ch.len(), 2u);
        EXPECT_EQ(ch.recv(), 1);
        EXPECT_EQ(ch.try_recv().value, 2);
        EXPECT_EQ(ch.recv(), std::nullopt);
        EXPECT_EQ(ch.recv(), std::nullopt);
        EXPECT_EQ(ch.try_recv().status, chan_status::closed);
        EXPECT_EQ(ch.recv_for(1h).status, chan_status::closed);
        EXPECT_FALSE(ch.try_recv());
    });
}

TEST_P(Chan, RecvOnClosedUnbufferedReturnsAtOnce) {
    run([&] {
        chan<int> ch;
        ch.close();
        const auto t0 = steady::now();
        EXPECT_EQ(ch.recv(), std::nullopt);
        EXPECT_EQ(ch.recv_until(steady::now() + 1h).status, chan_status::closed);
        EXPECT_LT(since(t0), 10s);
    });
}

TEST_P(Chan, CloseWakesBlockedReceivers) {
    run([&] {
        chan<int> ch;
        std::atomic<int> closed_seen{0};
        task_group g(mode());
        g.go_n(3, [&](int) {
            if (!ch.recv()) ++closed_seen;
        });
        EXPECT_TRUE(wait_until_blocked(mode(), 3, "chan receive", object_of(ch)));
        ch.close();
        g.wait();
        EXPECT_EQ(closed_seen.load(), 3);
    });
}

TEST_P(Chan, SendOnClosedThrowsAndKeepsTheValue) {
    run([&] {
        chan<std::unique_ptr<int>> ch(1);
        ch.close();
        auto p = std::make_unique<int>(7);
        EXPECT_THROW(ch.send(std::move(p)), closed_channel_error);
        ASSERT_NE(p, nullptr);
        EXPECT_THROW(ch.try_send(std::move(p)), closed_channel_error);
        EXPECT_THROW(ch.send_for(std::move(p), 1s), closed_channel_error);
        ASSERT_NE(p, nullptr);
        EXPECT_EQ(*p, 7);
        EXPECT_EQ(ch.len(), 0u);
    });
}

TEST_P(Chan, CloseReleasesBlockedSenderWithErrorAndKeepsItsValue) {
    run([&] {
        chan<std::unique_ptr<int>> ch;  // unbuffered: the sender blocks
        task_group g(mode());
        std::atomic<bool> threw{false}, kept{false};
        g.go([&] {
            auto p = std::make_unique<int>(5);
            try {
                ch.send(std::move(p));
            } catch (const closed_channel_error&) {
                threw = true;
                kept = p && *p == 5;
            }
        });
        EXPECT_TRUE(wait_until_blocked(mode(), 1, "chan send", object_of(ch)));
        ch.close();
        g.wait();
        EXPECT_TRUE(threw.load());
        EXPECT_TRUE(kept.load());
    });
}

TEST_P(Chan, CloseTwiceAndCloseOfNilThrow) {
    run([&] {
        chan<int> ch(1);
        ch.close();
        EXPECT_THROW(ch.close(), closed_channel_error);
        EXPECT_THROW(chan<int>::nil().close(), closed_channel_error);
    });
}

TEST_P(Chan, RangeForReceivesUntilClosed) {
    run([&] {
        chan<int> ch(3);
        task_group g(mode());
        g.go([=] {
            for (int i = 0; i < 100; ++i) ch.send(i);
            ch.close();
        });
        std::vector<int> got;
        for (int v : ch) got.push_back(v);
        std::vector<int> want(100);
        std::iota(want.begin(), want.end(), 0);
        EXPECT_EQ(got, want);
    });
}

TEST_P(Chan, CopiesAreHandlesToTheSameChannel) {
    run([&] {
        chan<int> a(2);
        chan<int> b = a;
        chan<int> c;
        c = b;
        EXPECT_TRUE(a == c);
        EXPECT_FALSE(a == chan<int>(2));
        a.send(1);
        EXPECT_EQ(c.len(), 1u);
        EXPECT_EQ(b.recv(), 1);
    });
}

TEST_P(Chan, ChannelOutlivesTheHandleThatMadeIt) {
    run([&] {
        chan<std::string> kept;
        task_group g(mode());
        {
            chan<std::string> made(1);
            kept = made;
            g.go([made] { made.send(std::string(100, 'x')); });
        }
        EXPECT_EQ(kept.recv(), std::string(100, 'x'));
    });
}

}  // namespace
