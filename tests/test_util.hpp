// Shared helpers of the cspfiber tests.
//
// Every behaviour runs in three execution settings:
//  - goroutines on one scheduler thread   (binary registered with CSP_PROCS=1),
//  - goroutines on two scheduler threads  (the same binary with CSP_PROCS=2),
//  - plain std::threads outside the runtime (setting::threads, both registrations).
// A test fixture derived from SettingTest is instantiated for
// setting::goroutines and setting::threads: run() runs the test body inside
// csp::run or on the test's own thread, and a task_group starts the body's
// helpers as goroutines or as std::threads to match.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <chan/chan.hpp>
#include <chan/select.hpp>
#include <fiber/go.hpp>
#include <fiber/sleep.hpp>

namespace csp_test {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

enum class setting {
    goroutines,  // body and tasks are goroutines
    threads,     // body and tasks are plain threads
    mixed,       // body is a goroutine; tasks alternate goroutine, thread, ...
};

inline std::string setting_name(const ::testing::TestParamInfo<setting>& info) {
    switch (info.param) {
        case setting::goroutines: return "goroutines";
        case setting::threads: return "threads";
        case setting::mixed: return "mixed";
    }
    return "unknown";
}

/// Runs `body` in the setting: as the main goroutine of csp::run, or right
/// here on this plain thread.
template <class F>
void run_in(setting s, F&& body) {
    if (s == setting::threads) body();
    else csp::run(std::function<void()>(std::forward<F>(body)));
}

/// Concurrent helpers of one test, started as goroutines or plain threads
/// according to the setting, joined by wait() (or the destructor). Every
/// task reports its end through a channel, so waiting never blocks a
/// scheduler thread.
class task_group {
public:
    explicit task_group(setting s) : setting_(s) {}
    task_group(const task_group&) = delete;
    task_group& operator=(const task_group&) = delete;
    ~task_group() { wait(); }

    template <class F>
    void go(F f) {
        const bool as_thread = setting_ == setting::threads || (setting_ == setting::mixed && started_ % 2 == 1);
        ++started_;
        ++running_;
        auto body = [f = std::move(f), done = done_]() mutable {
            f();
            done.send(1);
        };
        if (as_thread) threads_.emplace_back(std::move(body));
        else csp::go(std::move(body));
    }
    /// Starts `n` tasks f(0), ..., f(n-1).
    template <class F>
    void go_n(int n, F f) {
        for (int i = 0; i < n; ++i) go([f, i]() mutable { f(i); });
    }

    void wait() {
        for (; running_ > 0; --running_) done_.recv();
        for (auto& t : threads_) t.join();
        threads_.clear();
    }

private:
    setting setting_;
    int started_ = 0;
    int running_ = 0;
    csp::chan<int> done_;
    std::vector<std::thread> threads_;
};

/// Fixture of the behaviour tests: GetParam() is the setting.
class SettingTest : public ::testing::TestWithParam<setting> {
protected:
    template <class F>
    void run(F&& body) {
        run_in(GetParam(), std::forward<F>(body));
    }
    setting mode() const { return GetParam(); }
};

#define CSP_INSTANTIATE_SETTINGS(Fixture)                                                          \
    INSTANTIATE_TEST_SUITE_P(Settings, Fixture,                                                    \
                             ::testing::Values(::csp_test::setting::goroutines,                    \
                                               ::csp_test::setting::threads),                      \
                             ::csp_test::setting_name)

/// Makes it likely that a task started just before has reached its blocking
/// call. Tests using it are correct whether or not it has.
inline void settle() { csp::sleep_for(5ms); }

/// Generous bound for things that must happen "soon": a failure, not a hang.
inline constexpr auto patience = 20s;

inline steady::duration since(steady::time_point t0) { return steady::now() - t0; }

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

/// Runs `body` in a child process (a fresh runtime) and expects it to end
/// normally, without test failures: for bugs that end the process (a
/// sanitizer abort, a deadlock report), so they fail one test, not the binary.
template <class F>
void expect_clean_exit_in_child(F body) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            body();
            std::_Exit(::testing::Test::HasFailure() ? 1 : 0);
        },
        ::testing::ExitedWithCode(0), "");
}

/// CSP_PROCS as the test registration set it (0: not set).
inline std::size_t expected_procs() {
    const char* s = std::getenv("CSP_PROCS");
    return s ? static_cast<std::size_t>(std::strtoul(s, nullptr, 10)) : 0;
}

}  // namespace csp_test
