// The three execution settings every behaviour is tested in:
//  - goroutines on one scheduler thread   (binary registered with CSP_PROCS=1),
//  - goroutines on two scheduler threads  (the same binary with CSP_PROCS=2),
//  - plain std::threads outside the runtime (setting::threads, both registrations),
// plus setting::mixed, where a test's tasks alternate goroutine and thread.
//
// A fixture derived from SettingTest is instantiated per setting
// (CSP_INSTANTIATE_SETTINGS: goroutines and threads; CSP_INSTANTIATE_ALL_SETTINGS:
// mixed too). run() runs the test body inside csp::run or on the test's own
// thread, and a task_group starts the body's helpers as goroutines or threads
// to match:
//
//   TEST_P(Chan, Example) {
//       run([&] {
//           csp::chan<int> ch;
//           task_group g(mode());
//           g.go([&] { ch.send(1); });
//           EXPECT_EQ(ch.recv(), 1);
//       });
//   }
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <chan/chan.hpp>
#include <fiber/go.hpp>

namespace csp_test {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

/// Generous bound for things that must happen "soon": a failure, not a hang.
inline constexpr auto patience = 20s;

enum class setting {
    goroutines,  // body and tasks are goroutines
    threads,     // body and tasks are plain threads
    mixed,       // body is a goroutine; tasks alternate goroutine, thread, ...
};

inline const char* to_string(setting s) {
    switch (s) {
        case setting::goroutines: return "goroutines";
        case setting::threads: return "threads";
        case setting::mixed: return "mixed";
    }
    return "unknown";
}

inline std::string setting_name(const ::testing::TestParamInfo<setting>& info) { return to_string(info.param); }

/// Whether task `i` of a setting is a plain thread.
inline bool task_on_thread(setting s, int i) { return s == setting::threads || (s == setting::mixed && i % 2 == 1); }
/// Whether the test's body (the waiter, the canceller, ...) is a plain thread.
inline bool main_on_thread(setting s) { return s == setting::threads; }
/// Whether the body's one partner is a plain thread: the other kind in mixed.
inline bool partner_on_thread(setting s) { return s != setting::goroutines; }

/// Threads in a csp::run started by run_in: the runtime counts them as
/// blocked (they wait for their main goroutine); wait_until_blocked does not.
inline std::atomic<int> threads_in_run{0};

/// Runs `body` in the setting: as the main goroutine of csp::run, or right
/// here on this plain thread.
template <class F>
void run_in(setting s, F&& body) {
    if (s == setting::threads) {
        body();
        return;
    }
    threads_in_run.fetch_add(1);
    struct leave {
        ~leave() { threads_in_run.fetch_sub(1); }
    } on_exit;
    csp::run(std::function<void()>(std::forward<F>(body)));
}

/// A goroutine or a plain thread running f. join() (or the destructor) waits
/// for it; finished() and finished_within() tell whether it is done. It
/// reports its end through a channel, so waiting for it never blocks a
/// scheduler thread.
class task {
public:
    template <class F>
    task(bool on_thread, F f) {
        auto body = [f = std::move(f), done = done_]() mutable {
            f();
            done.send(csp::unit{});
        };
        if (on_thread) thread_ = std::thread(std::move(body));
        else csp::go(std::move(body));
    }
    task(task&&) = default;
    task& operator=(task&&) = delete;
    ~task() { join(); }

    void join() {
        if (!joined_ && !done_.is_nil()) {
            done_.recv();
            joined_ = true;
        }
        if (thread_.joinable()) thread_.join();
    }
    bool finished() {
        if (!joined_ && done_.try_recv()) joined_ = true;
        return joined_;
    }
    bool finished_within(steady::duration d) {
        if (!joined_ && done_.recv_for(d)) joined_ = true;
        return joined_;
    }

private:
    csp::chan<csp::unit> done_{1};
    bool joined_ = false;
    std::thread thread_;
};

/// Concurrent helpers of one test, started as goroutines or plain threads
/// according to the setting, joined by wait() (or the destructor).
class task_group {
public:
    explicit task_group(setting s) : setting_(s) {}
    task_group(const task_group&) = delete;
    task_group& operator=(const task_group&) = delete;
    ~task_group() { wait(); }

    template <class F>
    void go(F f) {
        const int i = started_++;
        tasks_.emplace_back(task_on_thread(setting_, i), std::move(f));
    }
    /// Starts `n` tasks f(0), ..., f(n-1).
    template <class F>
    void go_n(int n, F f) {
        for (int i = 0; i < n; ++i) go([f, i]() mutable { f(i); });
    }

    void wait() { tasks_.clear(); }  // each task joins as it goes
    /// Whether every task ended within `d` from now (then they are joined).
    bool finished_within(steady::duration d) {
        const auto until = steady::now() + d;
        for (task& t : tasks_)
            if (!t.finished_within(until - steady::now())) return false;
        wait();
        return true;
    }

private:
    setting setting_;
    int started_ = 0;
    std::vector<task> tasks_;
};

/// Runs f(0), ..., f(n-1) as tasks of the setting and waits for them all.
template <class F>
void run_tasks(setting s, int n, F f) {
    task_group g(s);
    g.go_n(n, std::move(f));
}

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

/// Goroutines, plain threads, and both together.
#define CSP_INSTANTIATE_ALL_SETTINGS(Fixture)                                                      \
    INSTANTIATE_TEST_SUITE_P(Settings, Fixture,                                                    \
                             ::testing::Values(::csp_test::setting::goroutines,                    \
                                               ::csp_test::setting::mixed,                         \
                                               ::csp_test::setting::threads),                      \
                             ::csp_test::setting_name)

}  // namespace csp_test
