// A slow body for csp::once, shared by the once tests and the once error test.
#pragma once

#include <atomic>

#include "harness/harness.hpp"

namespace csp_test {

/// Callers of csp::once in the once tests.
inline constexpr int once_callers = 16;

/// A body for once.call by callers of setting `s`: counts its runs, waits
/// until every caller has arrived and the others wait in the once (on its
/// mutex: seen through the runtime for goroutines; plain threads, which it
/// cannot see, get a few hundred yields), then runs `finish`.
template <class Finish>
auto slow_once_body(setting s, std::atomic<int>& runs, std::atomic<int>& arrived, Finish finish) {
    return [s, &runs, &arrived, finish] {
        runs.fetch_add(1);
        EXPECT_TRUE(yield_until([&] { return arrived.load() == once_callers; }));
        if (s == setting::goroutines) {
            EXPECT_TRUE(wait_until_blocked(once_callers - 1, "sync.Mutex.Lock"));
        } else {
            for (int i = 0; i < 200; ++i) csp::yield();
        }
        finish();
    };
}

}  // namespace csp_test
