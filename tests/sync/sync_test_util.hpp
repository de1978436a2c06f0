// Shared helpers for the sync/time/context tests: running the same body on
// goroutines, on plain threads or on both, and checking times.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <chan/chan.hpp>
#include <chan/select.hpp>
#include <fiber/go.hpp>

#include "../proc_status.hpp"

namespace synctest {

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

/// "Promptly", for upper bounds: generous enough for a loaded 2-core machine
/// under sanitizers. Lower bounds are always exact.
inline constexpr clk::duration generous = 2s;

/// Who runs a test's actors: goroutines (on CSP_PROCS scheduler threads),
/// plain std::threads, or both (even workers goroutines, odd ones threads).
enum class mode { goroutines, threads, mixed };

inline const char* to_string(mode m) {
    switch (m) {
        case mode::goroutines: return "goroutines";
        case mode::threads: return "threads";
        case mode::mixed: return "mixed";
    }
    return "?";
}

struct mode_name {
    std::string operator()(const testing::TestParamInfo<mode>& i) const { return to_string(i.param); }
};

/// Whether worker `i` is a plain thread.
inline bool on_thread(mode m, int i) { return m == mode::threads || (m == mode::mixed && i % 2 == 1); }
/// Whether the test's main actor (the waiter, the canceller, ...) is a plain thread.
inline bool main_on_thread(mode m) { return m == mode::threads; }
/// The partner of the main actor: the other kind in mixed mode.
inline bool partner_on_thread(mode m) { return m != mode::goroutines; }

/// A goroutine or a plain thread running f. join() (or the destructor) waits
/// for it; finished()/finished_within() tell whether it is done.
class task {
public:
    template <class F>
    task(bool thread, F f) {
        auto body = [f = std::move(f), done = done_]() mutable {
            f();
            done.send(csp::unit{});
        };
        if (thread) th_ = std::thread(std::move(body));
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
        if (th_.joinable()) th_.join();
    }
    bool finished() {
        if (!joined_ && done_.try_recv()) joined_ = true;
        return joined_;
    }
    bool finished_within(clk::duration d) {
        if (!joined_ && done_.recv_for(d)) joined_ = true;
        return joined_;
    }

private:
    csp::chan<csp::unit> done_{1};
    bool joined_ = false;
    std::thread th_;
};

/// Starts f(i) for i in [0, n) on goroutines and/or threads as `m` says.
template <class F>
std::vector<task> start_workers(mode m, int n, F f) {
    std::vector<task> ts;
    ts.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) ts.emplace_back(on_thread(m, i), [f, i] { f(i); });
    return ts;
}

/// start_workers, then waits for all of them.
template <class F>
void run_workers(mode m, int n, F f) {
    auto ts = start_workers(m, n, std::move(f));
    for (auto& t : ts) t.join();
}

/// Runs f as the test's main actor: on the calling plain thread, or as a
/// goroutine (csp::run) that the calling thread waits for.
template <class F>
void as_main(bool thread, F f) {
    if (thread) f();
    else csp::run(f);
}

/// Yields (goroutine or thread) until pred() holds; false if that took
/// longer than `generous`.
template <class P>
bool yield_until(P pred) {
    const auto give_up = clk::now() + generous;
    while (!pred()) {
        if (clk::now() > give_up) return false;
        csp::yield();
    }
    return true;
}

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

inline double ms(clk::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

/// `t` is no earlier than `earliest` (exact) and not absurdly later (generous).
inline testing::AssertionResult on_time(clk::time_point t, clk::time_point earliest) {
    if (t < earliest) return testing::AssertionFailure() << ms(earliest - t) << " ms early";
    if (t - earliest > generous) return testing::AssertionFailure() << ms(t - earliest) << " ms late";
    return testing::AssertionSuccess();
}

/// A random integer in [lo, hi], per-thread generator.
inline int random_between(int lo, int hi) {
    static std::atomic<unsigned> seed{12345};
    thread_local std::minstd_rand gen(seed.fetch_add(7919));
    return std::uniform_int_distribution<int>(lo, hi)(gen);
}

using csp_test::resident_kib;

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool under_asan = true;  // freed memory sits in ASan's quarantine
#else
inline constexpr bool under_asan = false;
#endif

}  // namespace synctest
