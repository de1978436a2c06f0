// Time in the tests: bounds for "promptly", lower bounds that are exact,
// deadlines that turn a hang into a failure with a diagnosis.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>

#include <fiber/go.hpp>
#include <fiber/sleep.hpp>

#include "settings.hpp"

namespace csp_test {

/// "Promptly", for upper bounds of timing checks: generous enough for a
/// loaded 2-core machine under sanitizers. Lower bounds are always exact.
inline constexpr steady::duration generous = 2s;

inline steady::duration since(steady::time_point t0) { return steady::now() - t0; }
inline double ms(steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

/// `t` is no earlier than `earliest` (exact) and not absurdly later (generous).
inline ::testing::AssertionResult on_time(steady::time_point t, steady::time_point earliest) {
    if (t < earliest) return ::testing::AssertionFailure() << ms(earliest - t) << " ms early";
    if (t - earliest > generous) return ::testing::AssertionFailure() << ms(t - earliest) << " ms late";
    return ::testing::AssertionSuccess();
}

/// Yields (goroutine or thread) until pred() holds; false if that took
/// longer than `within`.
template <class P>
bool yield_until(P pred, steady::duration within = generous) {
    const auto give_up = steady::now() + within;
    while (!pred()) {
        if (steady::now() > give_up) return false;
        csp::yield();
    }
    return true;
}

/// A loop's guard against hanging: a stress loop that waits for a count to
/// reach its goal asks stalled(count) on each turn and, once the count has
/// not moved for `within`, fails with what it counted so far instead of
/// spinning until the test runner kills the binary. (A bound on progress,
/// not on the whole run: sanitizer builds are slow, not stuck.)
///
///   for (stall_guard guard; received < total;)
///       if (guard.stalled(received)) { ADD_FAILURE() << received << " of " << total << " received"; break; }
class stall_guard {
public:
    explicit stall_guard(steady::duration within = patience) : within_(within), moved_(steady::now()) {}
    bool stalled(std::uint64_t count) {
        const auto now = steady::now();
        if (count != last_) {
            last_ = count;
            moved_ = now;
            return false;
        }
        return now - moved_ > within_;
    }

private:
    steady::duration within_;
    steady::time_point moved_;
    std::uint64_t last_ = 0;
};

/// Makes it likely that a plain thread started just before has reached a
/// wait with a deadline, which nothing can observe (see
/// wait_until_blocked for everything else). Tests using it are correct
/// whether or not it has.
inline void settle() { csp::sleep_for(5ms); }

/// A random integer in [lo, hi], per-thread generator.
inline int random_between(int lo, int hi) {
    static std::atomic<unsigned> seed{12345};
    thread_local std::minstd_rand gen(seed.fetch_add(7919));
    return std::uniform_int_distribution<int>(lo, hi)(gen);
}

}  // namespace csp_test
