// Stress: close racing with blocked senders and receivers, with plain
// operations, select and selector cases; everything counted.
#include "chan/mpmc.hpp"

#include <chan/selector.hpp>

#include <memory>
#include <random>

namespace {

using namespace csp_test;
using csp::chan;
using csp::closed_channel_error;

class CloseRace : public SettingTest {};
CSP_INSTANTIATE_ALL_SETTINGS(CloseRace);

// The buffer is full before the senders start, so every one of them blocks
// (or finds the channel closed): close must release each with
// closed_channel_error, and receivers must then get exactly the buffered
// values, in order, and then "closed".
TEST_P(CloseRace, EveryBlockedSenderIsReleasedWithAnError) {
    const int rounds = scaled(300, 10);
    run([&] {
        long released = 0, drained = 0;
        for (int round = 0; round < rounds; ++round) {
            const std::size_t cap = static_cast<std::size_t>(round % 4);  // 0..3
            const int senders = 1 + round % 6;
            chan<int> ch(cap);
            for (std::size_t i = 0; i < cap; ++i) ch.send(static_cast<int>(i));
            std::atomic<int> sent{0}, errors{0};
            task_group g(mode());
            g.go_n(senders, [&](int s) {
                try {
                    ch.send(1000 + s);
                    ++sent;
                } catch (const closed_channel_error&) {
                    ++errors;
                }
            });
            // Now and then, all of them surely parked.
            if (round % 8 == 0) {
                EXPECT_TRUE(wait_until_blocked(mode(), static_cast<std::size_t>(senders), "chan send", object_of(ch)));
            }
            ch.close();
            g.wait();
            ASSERT_EQ(sent.load(), 0) << "round " << round;
            ASSERT_EQ(errors.load(), senders) << "round " << round;
            for (std::size_t i = 0; i < cap; ++i) ASSERT_EQ(ch.recv(), static_cast<int>(i)) << "round " << round;
            ASSERT_EQ(ch.recv(), std::nullopt) << "round " << round;
            released += errors;
            drained += static_cast<long>(cap);
        }
        other_messages += drained;
        EXPECT_GT(released, 0);
    });
}

// Receivers wait on a channel holding a few values; close races with them.
// Together they must get each buffered value once, and each of them "closed"
// at the end.
TEST_P(CloseRace, EveryReceiverDrainsThenSeesClosed) {
    const int rounds = scaled(300, 10);
    run([&] {
        for (int round = 0; round < rounds; ++round) {
            const std::size_t cap = static_cast<std::size_t>(round % 5);  // 0..4
            const int receivers = 1 + round % 6;
            chan<int> ch(cap);
            std::atomic<int> closed_seen{0};
            std::atomic<long> sum{0}, count{0};
            for (std::size_t i = 0; i < cap; ++i) ch.send(1 << i);
            task_group g(mode());
            g.go_n(receivers, [&](int) {
                while (auto v = ch.recv()) {
                    sum += *v;
                    ++count;
                }
                ++closed_seen;
            });
            if (round % 8 == 0) {
                EXPECT_TRUE(
                    wait_until_blocked(mode(), static_cast<std::size_t>(receivers), "chan receive", object_of(ch)));
            }
            ch.close();
            g.wait();
            ASSERT_EQ(count.load(), static_cast<long>(cap)) << "round " << round;
            ASSERT_EQ(sum.load(), (1L << cap) - 1) << "round " << round;  // each value exactly once
            ASSERT_EQ(closed_seen.load(), receivers) << "round " << round;
        }
    });
}

// Senders and receivers run flat out while the channel is closed at a random
// point. Whatever a sender sent successfully arrives exactly once; a send
// that threw delivered nothing; each sender stops at its first error; every
// receiver ends on "closed".
//
// How a task sends and receives is up to the test: make_sender(ch, never)
// returns a function that sends one value (throwing closed_channel_error once
// the channel is closed), make_receiver(ch, never) one that receives one
// (nullopt once closed and drained); `never` is a channel nobody uses, for
// selects that must take the engine's multi-case path (only ever received
// from: two selects cannot pair on it).
template <class MakeSender, class MakeReceiver>
void close_in_the_middle_of_traffic(setting s, int rounds, MakeSender make_sender, MakeReceiver make_receiver) {
    constexpr int senders = 4, receivers = 3;
    const std::uint32_t per_sender = scaled<std::uint32_t>(1000, 100);
    std::mt19937 rng(12345);
    run_in(s, [&] {
        for (int round = 0; round < rounds; ++round) {
            chan<std::uint64_t> ch(static_cast<std::size_t>(round % 3 == 0 ? 0 : round % 3 == 1 ? 1 : 8)), never;
            std::vector<std::uint32_t> sent(senders, 0);
            std::vector<std::vector<std::uint64_t>> got(receivers + 1);
            std::atomic<int> errors{0}, closed_seen{0};
            task_group g(s);
            g.go_n(senders, [&](int p) {
                auto send = make_sender(ch, never);
                try {
                    for (std::uint32_t i = 0; i < per_sender; ++i) {
                        send(message(p, i));
                        ++sent[static_cast<std::size_t>(p)];
                    }
                } catch (const closed_channel_error&) {
                    ++errors;
                }
            });
            std::atomic<std::uint32_t> received{0};
            g.go_n(receivers, [&](int r) {
                auto recv = make_receiver(ch, never);
                while (std::optional<std::uint64_t> m = recv()) {
                    got[static_cast<std::size_t>(r)].push_back(*m);
                    ++received;
                }
                ++closed_seen;
            });
            // This body is a receiver too, and closes once a random number
            // of messages got through.
            auto& mine = got[receivers];
            const auto close_after = std::uniform_int_distribution<std::uint32_t>(0, senders * per_sender - 1)(rng);
            for (stall_guard guard; received.load() < close_after;) {
                if (guard.stalled(received.load())) {
                    ADD_FAILURE() << "round " << round << ": no message received for " << ms(patience) / 1000
                                  << " s; " << received.load() << " received, closing after " << close_after;
                    break;  // the close below releases everyone
                }
                if (auto r = ch.recv_for(1ms)) {
                    mine.push_back(*r);
                    ++received;
                }
            }
            ch.close();
            while (auto m = ch.recv()) mine.push_back(*m);
            g.wait();
            ASSERT_EQ(closed_seen.load(), receivers);
            long delivered = 0;
            for (int p = 0; p < senders; ++p) {
                const std::uint32_t n = sent[static_cast<std::size_t>(p)];
                delivered += n;
                // A sender that did not finish stopped at exactly one error.
                if (n < per_sender) --errors;
            }
            ASSERT_EQ(errors.load(), 0) << "round " << round;
            expect_each_message_once(got, senders, per_sender, &sent);
            if (::testing::Test::HasFailure()) return;
            ASSERT_GE(delivered, static_cast<long>(close_after));
        }
    });
}

using u64_chan = chan<std::uint64_t>;

TEST_P(CloseRace, CloseInTheMiddleOfTraffic) {
    close_in_the_middle_of_traffic(
        mode(), scaled(150, 10),
        [](const u64_chan& ch, const u64_chan&) { return [ch](std::uint64_t m) { ch.send(m); }; },
        [](const u64_chan& ch, const u64_chan&) { return [ch] { return ch.recv(); }; });
}

// The same through select: a send case and a receive case on a channel
// nobody uses (so the select queues a waiter on each and the close must find
// the right one), every third send with a deadline that may expire first.
TEST_P(CloseRace, CloseRacesWithSelectSendAndReceiveCases) {
    close_in_the_middle_of_traffic(
        mode(), scaled(100, 10),
        [](const u64_chan& ch, const u64_chan& never) {
            return [ch, never, n = 0](std::uint64_t m) mutable {
                if (++n % 3 != 0) {
                    ASSERT_EQ(csp::select(csp::case_send(ch, m), csp::case_recv(never)), 0);
                    return;
                }
                while (csp::select_until(steady::now() + 1ms, csp::case_send(ch, m), csp::case_recv(never)) == std::nullopt) {
                }
            };
        },
        [](const u64_chan& ch, const u64_chan& never) {
            return [ch, never] {
                std::optional<std::uint64_t> got;
                auto take = [&got](std::optional<std::uint64_t> v) { got = v; };
                EXPECT_EQ(csp::select(csp::case_recv(never), csp::case_recv(ch, take)), 1);
                return got;
            };
        });
}

// The same through csp::selector: one selector per task, the send case
// re-armed with each value.
TEST_P(CloseRace, CloseRacesWithSelectorSendAndReceiveCases) {
    close_in_the_middle_of_traffic(
        mode(), scaled(100, 10),
        [](const u64_chan& ch, const u64_chan& never) {
            auto sel = std::make_shared<csp::selector>();
            const std::size_t send_case = sel->add_send(ch, std::uint64_t{0});
            sel->add_recv(never);
            return [sel, send_case](std::uint64_t m) {
                sel->set_send_value<std::uint64_t>(send_case, m);
                ASSERT_EQ(sel->select(), send_case);
            };
        },
        [](const u64_chan& ch, const u64_chan& never) {
            auto sel = std::make_shared<csp::selector>();
            sel->add_recv(never);
            const std::size_t recv_case = sel->add_recv(ch);
            return [sel, recv_case]() -> std::optional<std::uint64_t> {
                EXPECT_EQ(sel->select(), recv_case);
                return sel->take<std::uint64_t>(recv_case);
            };
        });
}

}  // namespace
