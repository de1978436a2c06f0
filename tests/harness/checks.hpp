// Values and checks the tests share: copy-counted values, closed channels,
// uniformity of random choices, the registration's CSP_PROCS.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <utility>
#include <vector>

#include <chan/chan.hpp>

namespace csp_test {

/// Copies of a counted are tallied: a value that is only ever moved leaves
/// copies() at zero. Not default-constructible.
class counted {
public:
    explicit counted(int v) noexcept : v_(v) {}
    counted(const counted& o) noexcept : v_(o.v_) { copies_.fetch_add(1, std::memory_order_relaxed); }
    counted(counted&& o) noexcept : v_(std::exchange(o.v_, -1)) {}
    counted& operator=(const counted& o) noexcept {
        v_ = o.v_;
        copies_.fetch_add(1, std::memory_order_relaxed);
        return *this;
    }
    counted& operator=(counted&& o) noexcept {
        v_ = std::exchange(o.v_, -1);
        return *this;
    }
    int value() const noexcept { return v_; }

    static int copies() noexcept { return copies_.load(); }
    static void reset() noexcept { copies_.store(0); }

private:
    int v_;
    static inline std::atomic<int> copies_{0};
};

/// Counts how often each of `n` outcomes (0..n-1) happens in `trials` runs of
/// `pick` and expects each share to be within [lo, hi].
template <class Pick>
void expect_uniform(int n, int trials, double lo, double hi, Pick pick) {
    std::vector<int> hits(static_cast<std::size_t>(n), 0);
    for (int t = 0; t < trials; ++t) {
        const int k = pick();
        ASSERT_GE(k, 0);
        ASSERT_LT(k, n);
        ++hits[static_cast<std::size_t>(k)];
    }
    for (int k = 0; k < n; ++k) {
        const double share = static_cast<double>(hits[static_cast<std::size_t>(k)]) / trials;
        EXPECT_GE(share, lo) << "outcome " << k << " chosen " << hits[static_cast<std::size_t>(k)] << " of " << trials;
        EXPECT_LE(share, hi) << "outcome " << k << " chosen " << hits[static_cast<std::size_t>(k)] << " of " << trials;
    }
}

/// A closed channel: receiving from it is always ready.
template <class T>
csp::chan<T> closed_chan() {
    csp::chan<T> c;
    c.close();
    return c;
}

/// CSP_PROCS as the test registration set it (0: not set).
inline std::size_t expected_procs() {
    const char* s = std::getenv("CSP_PROCS");
    return s ? static_cast<std::size_t>(std::strtoul(s, nullptr, 10)) : 0;
}

}  // namespace csp_test
