// Stress: selects mixing sends, receives, timeouts and defaults on shared
// channels; a selector merging closing channels; a million short blocking
// selects in flat memory.
#include "chan/mpmc.hpp"

#include <chan/selector.hpp>

#include <numeric>

namespace {

using namespace csp_test;
using csp::case_recv;
using csp::case_send;
using csp::chan;

class SelectStress : public SettingTest {};
CSP_INSTANTIATE_ALL_SETTINGS(SelectStress);

// Workers share an unbuffered and a buffered channel. Each loops on one
// select that may send its next message on either channel, receive from
// either, or give up (a 1 ms deadline, or a default every fourth time),
// until all messages are received. Worker w's messages on channel a come
// from pseudo-producer 2w, those on b from 2w+1, so per-channel FIFO order
// can be checked too.
TEST_P(SelectStress, SendsReceivesTimeoutsAndDefaultsOnSharedChannels) {
    constexpr int workers = 6;
    const std::uint32_t quota = scaled<std::uint32_t>(mode() == setting::threads ? 5000 : 40000, 100);
    run([&] {
        chan<std::uint64_t> a, b(4);
        const std::uint64_t total = std::uint64_t{workers} * quota;
        std::atomic<std::uint64_t> received{0};
        std::atomic<long> receives{0}, unexpected{0};
        std::atomic<bool> gave_up{false};
        std::vector<std::vector<std::uint64_t>> got(workers);
        std::vector<std::uint32_t> sent(2 * workers, 0);
        task_group g(mode());
        g.go_n(workers, [&](int w) {
            auto& mine = got[static_cast<std::size_t>(w)];
            std::uint32_t& on_a = sent[static_cast<std::size_t>(2 * w)];
            std::uint32_t& on_b = sent[static_cast<std::size_t>(2 * w + 1)];
            auto record = [&](std::optional<std::uint64_t> m) {
                mine.push_back(*m);
                ++received;
            };
            stall_guard guard;
            for (long iter = 0; received.load() < total && !gave_up.load(); ++iter) {
                if (guard.stalled(received.load())) {
                    if (!gave_up.exchange(true))
                        ADD_FAILURE() << "no message received for " << ms(patience) / 1000 << " s: " << received.load()
                                      << " of " << total << " received; worker " << w << " sent " << on_a + on_b
                                      << " of " << quota;
                    break;
                }
                const bool sending = on_a + on_b < quota;
                const auto to_a = sending ? a : chan<std::uint64_t>::nil();
                const auto to_b = sending ? b : chan<std::uint64_t>::nil();
                auto with_cases = [&](auto&& sel) {
                    return sel(case_send(to_a, message(2 * w, on_a)), case_send(to_b, message(2 * w + 1, on_b)),
                                  case_recv(a, record), case_recv(b, record));
                };
                const int r = iter % 4 == 0
                                  ? with_cases([](auto&&... c) { return csp::select(c..., csp::case_default()); })
                                  : with_cases([](auto&&... c) { return csp::select_until(steady::now() + 1ms, c...).value_or(-1); });
                if (r == 0) ++on_a;
                else if (r == 1) ++on_b;
                else if (r == 2 || r == 3) ++receives;
                else if (r != 4 && r != -1) ++unexpected;  // 4: default, -1: timeout
            }
        });
        g.wait();
        EXPECT_EQ(std::accumulate(sent.begin(), sent.end(), std::uint64_t{0}), total);
        EXPECT_EQ(received.load(), total);
        expect_each_message_once(got, 2 * workers, quota, &sent);
        EXPECT_EQ(receives.load(), static_cast<long>(total)) << "receive cases reported != handlers run";
        EXPECT_EQ(unexpected.load(), 0);
    });
}

// A selector merges producer channels into one, disabling each as it
// closes; the consumer checks every producer's messages arrive once, in order.
TEST_P(SelectStress, SelectorMergesClosingChannels) {
    constexpr int producers = 5;
    const std::uint32_t per_producer = scaled<std::uint32_t>(mode() == setting::threads ? 5000 : 40000, 100);
    run([&] {
        std::vector<chan<std::uint64_t>> inputs;
        for (int p = 0; p < producers; ++p) inputs.emplace_back(static_cast<std::size_t>(p % 3));  // caps 0, 1, 2
        chan<std::uint64_t> merged(8);
        task_group g(mode());
        g.go_n(producers, [&](int p) {
            for (std::uint32_t i = 0; i < per_producer; ++i) inputs[static_cast<std::size_t>(p)].send(message(p, i));
            inputs[static_cast<std::size_t>(p)].close();
        });
        g.go([&] {
            csp::selector sel;
            for (auto& in : inputs) sel.add_recv(in);
            for (int open = producers; open > 0;) {
                const std::size_t i = sel.select();
                if (auto m = sel.take<std::uint64_t>(i)) {
                    merged.send(*m);
                } else {
                    EXPECT_FALSE(sel.ok(i));
                    sel.disable(i);
                    --open;
                }
            }
            merged.close();
        });
        std::vector<std::vector<std::uint64_t>> got(1);
        for (std::uint64_t m : merged) got[0].push_back(m);
        g.wait();
        expect_each_message_once(got, producers, per_producer);
    });
}

// One side receives with a three-case select (one case never ready, a far
// deadline armed every time), the other sends with a two-case select; every
// select can block. After a warm-up, resident memory must stay flat.
TEST_P(SelectStress, MillionShortLivedBlockingSelectsKeepMemoryFlat) {
    const long n = scaled(mode() == setting::threads ? 100'000L : 1'000'000L, 1000L);
    const long warmup = n / 10;
    run([&] {
        chan<long> a, b, never;
        task_group g(mode());
        g.go([&] {
            for (long i = 0; i < warmup + n; ++i) csp::select(case_send(a, i), case_send(b, i));
        });
        long sum = 0, count = 0;
        auto receive = [&](long rounds) {
            auto take = [&](std::optional<long> v) {
                sum += *v;
                ++count;
            };
            for (long i = 0; i < rounds; ++i) {
                const int r = csp::select_until(steady::now() + patience, case_recv(a, take), case_recv(b, take),
                                                case_recv(never, take)).value_or(-1);
                ASSERT_TRUE(r == 0 || r == 1) << "select returned " << r;
            }
        };
        receive(warmup);
        const long before = resident_kib();
        receive(n);
        const long after = resident_kib();
        g.wait();
        EXPECT_EQ(count, warmup + n);
        EXPECT_EQ(sum, (warmup + n) * (warmup + n - 1) / 2);
        ASSERT_GT(before, 0) << "no VmRSS in /proc/self/status";
        EXPECT_LT(after - before, 20 * 1024) << "resident memory grew from " << before << " KiB to " << after << " KiB";
        other_messages += count;
    });
}

}  // namespace
