// A slow body for csp::once, shared by the once tests and the once error test.
#pragma once

#include <atomic>

#include "harness/harness.hpp"

namespace csp_test {

/// Callers of csp::once in the once tests.
inline constexpr int once_callers = 16;

/// A body for once.call: counts its runs, waits until every caller has
/// arrived (so the others call while it runs), lets them reach the once,
/// then runs `finish`.
template <class Finish>
auto slow_once_body(std::atomic<int>& runs, std::atomic<int>& arrived, Finish finish) {
    return [&runs, &arrived, finish] {
        runs.fetch_add(1);
        EXPECT_TRUE(yield_until([&] { return arrived.load() == once_callers; }));
        for (int i = 0; i < 200; ++i) csp::yield();
        finish();
    };
}

}  // namespace csp_test
