// Helpers of the stress tests: sizes scaled by CSP_STRESS_SCALE, and the
// report of how many messages went through.
//
// Sizes are written for a normal (debugoptimized) build, where one run of
// each stress binary moves about 10 million messages through channels in
// total. CSP_STRESS_SCALE multiplies every count (e.g. 0.1 for a quick run,
// 10 for a soak). Sanitizer builds default to a quarter of the normal sizes,
// since they run several times slower.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CSP_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CSP_TEST_SANITIZED 1
#endif
#endif

namespace csp_test {

inline double stress_scale() {
    static const double s = [] {
        if (const char* e = std::getenv("CSP_STRESS_SCALE")) {
            const double v = std::strtod(e, nullptr);
            if (v > 0) return v;
        }
#ifdef CSP_TEST_SANITIZED
        return 0.25;
#else
        return 1.0;
#endif
    }();
    return s;
}

/// n scaled by stress_scale(), at least `at_least`.
template <class N>
N scaled(N n, N at_least = 1) {
    const double v = std::round(static_cast<double>(n) * stress_scale());
    return v < static_cast<double>(at_least) ? at_least : static_cast<N>(v);
}

/// Messages that went through MPMC channels in this process (run_mpmc).
inline std::atomic<long> messages_passed{0};
/// Messages moved by things other than run_mpmc (selects, close races).
inline std::atomic<long> other_messages{0};

/// Prints, at the end of the binary, how many messages went through.
class message_report : public ::testing::Environment {
public:
    void TearDown() override {
        std::printf("[ stress   ] scale %.3g: %ld messages through MPMC channels, %ld more by selects and close races\n",
                    stress_scale(), messages_passed.load(), other_messages.load());
    }
};
inline ::testing::Environment* const the_message_report = ::testing::AddGlobalTestEnvironment(new message_report);

}  // namespace csp_test
