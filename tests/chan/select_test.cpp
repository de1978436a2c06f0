// csp::select / csp::select_until.
#include "harness/harness.hpp"

#include <string>

namespace {

using namespace csp_test;
using csp::case_default;
using csp::case_recv;
using csp::case_send;
using csp::chan;
using csp::closed_channel_error;

class Select : public SettingTest {};
CSP_INSTANTIATE_SETTINGS(Select);

// Closes `ch` from another task of `g` once the body (of setting `s`) is
// blocked in a select.
void close_once_selecting(setting s, task_group& g, const chan<int>& ch) {
    g.go([s, ch] {
        EXPECT_TRUE(wait_until_blocked(s, 1, "select"));
        ch.close();
    });
}

TEST_P(Select, ReturnsTheCaseThatRanAndHandsItTheValue) {
    run([&] {
        chan<int> empty;
        chan<std::string> ready(1);
        ready.send("hi");
        std::optional<std::string> got;
        bool wrong = false;
        const int r = csp::select(case_recv(empty, [&](std::optional<int>) { wrong = true; }),
                                  case_recv(ready, [&](std::optional<std::string> v) { got = std::move(v); }));
        EXPECT_EQ(r, 1);
        EXPECT_FALSE(wrong);
        EXPECT_EQ(got, "hi");
    });
}

TEST_P(Select, SendCaseDeliversAndRunsItsHandler) {
    run([&] {
        chan<int> full(1), room(1);
        full.send(0);
        int ran = -1;
        const int r = csp::select(case_send(full, 1, [&] { ran = 0; }), case_send(room, 2, [&] { ran = 1; }));
        EXPECT_EQ(r, 1);
        EXPECT_EQ(ran, 1);
        EXPECT_EQ(room.recv(), 2);
        EXPECT_EQ(full.len(), 1u);
    });
}

TEST_P(Select, HandlersMayIgnoreTheValue) {
    run([&] {
        chan<int> ch(1);
        ch.send(1);
        bool ran = false;
        EXPECT_EQ(csp::select(case_recv(ch, [&] { ran = true; })), 0);
        EXPECT_TRUE(ran);
    });
}

TEST_P(Select, DefaultRunsOnlyWhenNothingIsReady) {
    run([&] {
        chan<int> empty, ready(1);
        bool dflt = false;
        const auto t0 = steady::now();
        EXPECT_EQ(csp::select(case_recv(empty), case_send(empty, 1), case_default([&] { dflt = true; })), 2);
        EXPECT_TRUE(dflt);
        EXPECT_LT(since(t0), 1s);
        // The default may come first: position counts it.
        EXPECT_EQ(csp::select(case_default(), case_recv(empty)), 0);
        ready.send(1);
        for (int i = 0; i < 100; ++i) {
            dflt = false;
            // `ready` (capacity 1) always has either a value or room.
            ASSERT_NE(csp::select(case_recv(empty), case_send(ready, 1), case_recv(ready),
                                  case_default([&] { dflt = true; })),
                      3);
            EXPECT_FALSE(dflt);
        }
    });
}

TEST_P(Select, SelectUntilTimesOutWithNullopt) {
    run([&] {
        chan<int> a, b(1);
        b.send(0);  // full: a send case on it cannot proceed
        bool ran = false;
        const auto t0 = steady::now();
        EXPECT_EQ(csp::select_until(t0 + 20ms, case_recv(a, [&] { ran = true; }), case_send(b, 1, [&] { ran = true; })), std::nullopt);
        EXPECT_GE(since(t0), 20ms);
        EXPECT_FALSE(ran);
        EXPECT_EQ(b.len(), 1u);
        EXPECT_FALSE(a.try_send(1)) << "the timed-out select left a receiver behind";
    });
}

TEST_P(Select, ValueArrivingBeforeTheDeadlineWins) {
    run([&] {
        chan<int> a, b;
        task_group g(mode());
        g.go([&] {
            EXPECT_TRUE(wait_until_blocked_with_deadline(main_on_thread(mode()), 1, "select"));
            b.send(5);
        });
        std::optional<int> got;
        const auto r = csp::select_until(steady::now() + patience, case_recv(a),
                                         case_recv(b, [&](std::optional<int> v) { got = v; }));
        EXPECT_EQ(r, 1);
        EXPECT_EQ(got, 5);
    });
}

TEST_P(Select, BlockedSelectIsCompletedByASenderOrAReceiver) {
    run([&] {
        chan<int> in, out;
        task_group g(mode());
        std::optional<int> got;
        g.go([&] { in.send(1); });
        EXPECT_EQ(csp::select(case_recv(in, [&](std::optional<int> v) { got = v; }), case_send(out, 9)), 0);
        EXPECT_EQ(got, 1);
        g.wait();
        g.go([&] { got = out.recv(); });
        EXPECT_EQ(csp::select(case_recv(in), case_send(out, 9)), 1);
        g.wait();
        EXPECT_EQ(got, 9);
    });
}

TEST_P(Select, SameChannelInSeveralCases) {
    run([&] {
        chan<int> ch(2);
        // Empty: only the send can run; full: only the receive.
        EXPECT_EQ(csp::select(case_send(ch, 1), case_recv(ch)), 0);
        ch.send(2);
        std::optional<int> got;
        EXPECT_EQ(csp::select(case_send(ch, 3), case_recv(ch, [&](std::optional<int> v) { got = v; })), 1);
        EXPECT_EQ(got, 1);
        // One value in two slots: both are ready, and both get chosen.
        bool sent = false, received = false;
        for (int i = 0; i < 200 && !(sent && received); ++i) {
            const int r = csp::select(case_send(ch, 4), case_recv(ch), case_recv(ch));
            if (r == 0) {
                sent = true;
                ASSERT_TRUE(ch.try_recv());
            } else {
                received = true;
                ASSERT_TRUE(ch.try_send(4));
            }
        }
        EXPECT_TRUE(sent && received);
    });
}

TEST_P(Select, NeverPairsWithItself) {
    run([&] {
        chan<int> ch;  // unbuffered, nobody else around
        const auto t0 = steady::now();
        EXPECT_EQ(csp::select_until(t0 + 20ms, case_send(ch, 1), case_recv(ch)), std::nullopt);
        EXPECT_EQ(csp::select_until(steady::now() + 5ms, case_recv(ch), case_send(ch, 1), case_recv(ch)), std::nullopt);
        EXPECT_EQ(csp::select(case_send(ch, 1), case_recv(ch), case_default()), 2);
        EXPECT_FALSE(ch.try_send(1));
    });
}

TEST_P(Select, TwoSelectsWithSendAndReceiveOnOneChannelPairUp) {
    run([&] {
        chan<int> ch;
        std::atomic<int> sends{0}, recvs{0}, received_sum{0};
        auto one = [&](int mine) {
            const int r = csp::select(case_send(ch, mine, [&] { ++sends; }),
                                      case_recv(ch, [&](std::optional<int> v) {
                                          ++recvs;
                                          received_sum += *v;
                                      }));
            EXPECT_TRUE(r == 0 || r == 1);
        };
        task_group g(mode());
        g.go([&] { one(10); });
        one(20);
        g.wait();
        EXPECT_EQ(sends.load(), 1);
        EXPECT_EQ(recvs.load(), 1);
        EXPECT_TRUE(received_sum == 10 || received_sum == 20);
    });
}

TEST_P(Select, ReceiveFromClosedChannelIsReady) {
    run([&] {
        chan<int> empty;
        auto closed = closed_chan<int>();
        bool got_nullopt = false;
        EXPECT_EQ(csp::select(case_recv(empty), case_recv(closed, [&](std::optional<int> v) { got_nullopt = !v; })), 1);
        EXPECT_TRUE(got_nullopt);
        EXPECT_EQ(csp::select(case_recv(closed), case_default()), 0);
    });
}

TEST_P(Select, CloseWakesABlockedSelectReceive) {
    run([&] {
        chan<int> a, b;
        task_group g(mode());
        close_once_selecting(mode(), g, b);
        std::optional<int> got = 1;
        EXPECT_EQ(csp::select(case_recv(a), case_recv(b, [&](std::optional<int> v) { got = v; })), 1);
        EXPECT_EQ(got, std::nullopt);
    });
}

TEST_P(Select, SendToClosedChannelThrows) {
    run([&] {
        chan<int> empty;
        auto closed = closed_chan<int>();
        bool ran = false;
        EXPECT_THROW(csp::select(case_recv(empty), case_send(closed, 1, [&] { ran = true; })), closed_channel_error);
        EXPECT_THROW(csp::select(case_send(closed, 1), case_default()), closed_channel_error);
        EXPECT_FALSE(ran);
    });
}

TEST_P(Select, CloseMakesABlockedSelectSendThrow) {
    run([&] {
        chan<int> a, b;
        task_group g(mode());
        close_once_selecting(mode(), g, b);
        EXPECT_THROW(csp::select(case_recv(a), case_send(b, 1)), closed_channel_error);
        EXPECT_FALSE(a.try_send(1)) << "the select left a receiver behind";
    });
}

TEST_P(Select, NilCasesAreNeverChosen) {
    run([&] {
        auto nil = chan<int>::nil();
        auto closed = closed_chan<int>();
        for (int i = 0; i < 200; ++i) {
            ASSERT_EQ(csp::select(case_recv(nil), case_send(nil, 1), case_recv(closed), case_recv(nil)), 2);
        }
        bool dflt = false;
        EXPECT_EQ(csp::select(case_recv(nil), case_send(nil, 1), case_default([&] { dflt = true; })), 2);
        EXPECT_TRUE(dflt);
        const auto t0 = steady::now();
        EXPECT_EQ(csp::select_until(t0 + 10ms, case_recv(nil), case_send(nil, 1)), std::nullopt);
        EXPECT_GE(since(t0), 10ms);
    });
}

TEST_P(Select, ManyCases) {
    run([&] {
        // More cases than the engine keeps on its stack.
        std::vector<chan<int>> c(12);
        c[10] = chan<int>(1);
        c[10].send(10);
        std::optional<int> got;
        auto h = [&](std::optional<int> v) { got = v; };
        const int r = csp::select(case_recv(c[0], h), case_recv(c[1], h), case_recv(c[2], h), case_recv(c[3], h),
                                  case_recv(c[4], h), case_recv(c[5], h), case_recv(c[6], h), case_recv(c[7], h),
                                  case_recv(c[8], h), case_recv(c[9], h), case_recv(c[10], h), case_recv(c[11], h));
        EXPECT_EQ(r, 10);
        EXPECT_EQ(got, 10);
        task_group g(mode());
        g.go([&] { c[11].send(11); });
        EXPECT_EQ(csp::select(case_recv(c[0], h), case_recv(c[1], h), case_recv(c[2], h), case_recv(c[3], h),
                              case_recv(c[4], h), case_recv(c[5], h), case_recv(c[6], h), case_recv(c[7], h),
                              case_recv(c[8], h), case_recv(c[9], h), case_recv(c[10], h), case_recv(c[11], h)),
                  11);
        EXPECT_EQ(got, 11);
    });
}

// Fairness: among ready cases the choice is uniformly random. 20000 selects
// put a fair choice's share within a few tenths of a percent of its mean, so
// the bounds below fail only for a biased select.
constexpr int fairness_trials = 20000;

TEST_P(Select, ChoosesUniformlyBetweenTwoReadyChannels) {
    run([&] {
        chan<int> a(1), b(1);
        a.send(0);
        b.send(1);
        expect_uniform(2, fairness_trials, 0.45, 0.55, [&] {
            int from = -1;
            csp::select(case_recv(a, [&](std::optional<int> v) { from = *v; }),
                        case_recv(b, [&](std::optional<int> v) { from = *v; }));
            (from == 0 ? a : b).send(from);  // ready again
            return from;
        });
    });
}

TEST_P(Select, ChoosesUniformlyAmongThreeReadyChannels) {
    run([&] {
        auto a = closed_chan<int>(), b = closed_chan<int>(), c = closed_chan<int>();
        expect_uniform(3, fairness_trials, 0.30, 0.367,
                       [&] { return csp::select(case_recv(a), case_recv(b), case_recv(c)); });
    });
}

TEST_P(Select, ChoosesUniformlyAmongTheReadyCasesOnly) {
    run([&] {
        // A select that starts at a random case and takes the next ready one
        // picks the case after a blocked one twice as often.
        auto a = closed_chan<int>(), c = closed_chan<int>();
        chan<int> blocked;
        expect_uniform(2, fairness_trials, 0.45, 0.55, [&] {
            const int r = csp::select(case_recv(a), case_recv(blocked), case_send(blocked, 1), case_recv(c));
            return r == 0 ? 0 : r == 3 ? 1 : -1;
        });
    });
}

TEST_P(Select, ChoosesUniformlyBetweenReadySendAndReceive) {
    run([&] {
        chan<int> ch(2);
        ch.send(0);  // one value, one free slot: both cases ready
        expect_uniform(2, fairness_trials, 0.45, 0.55, [&] {
            const int r = csp::select(case_send(ch, 1), case_recv(ch));
            if (r == 0) ch.recv();
            else ch.send(0);
            return r;
        });
    });
}

}  // namespace
