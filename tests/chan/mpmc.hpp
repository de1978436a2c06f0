// Many producers, many consumers on one channel, every message accounted
// for. Shared by the cross-thread tests and the stress tests.
//
// Producer p sends (p, 0), (p, 1), ... (p, n-1) packed in a uint64. Each
// consumer records what it got; afterwards every message must have arrived
// exactly once, and each consumer must have seen each producer's messages in
// increasing order (a FIFO channel cannot reorder sends that happened one
// after the other, whatever the number of consumers).
#pragma once

#include "harness/harness.hpp"
#include "harness/stress.hpp"

#include <atomic>
#include <cstdint>
#include <vector>

namespace csp_test {

inline std::uint64_t message(int producer, std::uint32_t seq) {
    return (static_cast<std::uint64_t>(producer) << 32) | seq;
}
inline int producer_of(std::uint64_t m) { return static_cast<int>(m >> 32); }
inline std::uint32_t seq_of(std::uint64_t m) { return static_cast<std::uint32_t>(m); }

/// Checks what the consumers recorded against what `producers` producers
/// sent, `per_producer` each (sent[p] of them if `sent` is given).
inline void expect_each_message_once(const std::vector<std::vector<std::uint64_t>>& got, int producers,
                                     std::uint32_t per_producer, const std::vector<std::uint32_t>* sent = nullptr) {
    std::vector<std::vector<std::uint8_t>> seen(static_cast<std::size_t>(producers),
                                                std::vector<std::uint8_t>(per_producer, 0));
    long foreign = 0, duplicate = 0, out_of_order = 0, received = 0;
    for (const auto& mine : got) {
        std::vector<long> last(static_cast<std::size_t>(producers), -1);
        for (std::uint64_t m : mine) {
            const int p = producer_of(m);
            const std::uint32_t i = seq_of(m);
            if (p < 0 || p >= producers || i >= per_producer) {
                ++foreign;
                continue;
            }
            ++received;
            if (seen[static_cast<std::size_t>(p)][i]++) ++duplicate;
            if (static_cast<long>(i) <= last[static_cast<std::size_t>(p)]) ++out_of_order;
            last[static_cast<std::size_t>(p)] = i;
        }
    }
    long missing = 0;
    for (int p = 0; p < producers; ++p) {
        const std::uint32_t n = sent ? (*sent)[static_cast<std::size_t>(p)] : per_producer;
        for (std::uint32_t i = 0; i < per_producer; ++i) {
            const bool should = i < n;
            if (should && !seen[static_cast<std::size_t>(p)][i]) ++missing;
            if (!should && seen[static_cast<std::size_t>(p)][i]) ++foreign;
        }
    }
    EXPECT_EQ(foreign, 0) << "messages nobody sent";
    EXPECT_EQ(duplicate, 0) << "messages received twice";
    EXPECT_EQ(missing, 0) << "messages lost";
    EXPECT_EQ(out_of_order, 0) << "a consumer saw a producer's messages out of order";
    messages_passed.fetch_add(received, std::memory_order_relaxed);
}

struct mpmc_spec {
    std::size_t capacity;
    int producers;
    int consumers;
    std::uint32_t per_producer;
    setting producers_as = setting::goroutines;  // goroutines, threads or mixed
    setting consumers_as = setting::goroutines;
};

/// Runs the producers and consumers of `s` on one channel, closes it when
/// every producer is done, and checks the outcome. Call it from a goroutine
/// or a plain thread.
inline void run_mpmc(const mpmc_spec& s) {
    csp::chan<std::uint64_t> ch(s.capacity);
    std::vector<std::vector<std::uint64_t>> got(static_cast<std::size_t>(s.consumers));
    {
        task_group consumers(s.consumers_as);
        consumers.go_n(s.consumers, [&](int c) {
            auto& mine = got[static_cast<std::size_t>(c)];
            for (std::uint64_t m : ch) mine.push_back(m);
        });
        {
            task_group producers(s.producers_as);
            producers.go_n(s.producers, [&](int p) {
                for (std::uint32_t i = 0; i < s.per_producer; ++i) ch.send(message(p, i));
            });
        }
        ch.close();
    }
    expect_each_message_once(got, s.producers, s.per_producer);
}

}  // namespace csp_test
