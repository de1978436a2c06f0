// csp::blocking (fiber/blocking.hpp) and its context-taking form
// (chan/blocking.hpp): results, exceptions, the pool's bound, the caller
// parked meanwhile, cancellation through a context, plain threads.
#include "harness/harness.hpp"

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <chan/blocking.hpp>
#include <chan/context.hpp>
#include <fiber/blocking.hpp>
#include <fiber/debug.hpp>
#include <fiber/wait_group.hpp>

namespace {

using namespace csp_test;

/// Spins on a plain thread until `flag` is set; false after `within`.
bool wait_for_flag(const std::atomic<bool>& flag, steady::duration within = generous) {
    const auto give_up = steady::now() + within;
    while (!flag.load())
        if (steady::now() > give_up) return false;
    return true;
}

TEST(Blocking, ReturnsValuesReferencesAndNothing) {
    csp::run([] {
        EXPECT_EQ(csp::blocking([] { return std::string("from the pool"); }), "from the pool");
        int x = 1;
        int& r = csp::blocking([&]() -> int& { return x; });
        EXPECT_EQ(&r, &x);
        bool ran = false;
        csp::blocking([&] { ran = true; });
        EXPECT_TRUE(ran);
        // A move-only result.
        auto p = csp::blocking([] { return std::make_unique<int>(7); });
        ASSERT_TRUE(p);
        EXPECT_EQ(*p, 7);
    });
}

TEST(Blocking, RunsOnAnotherThreadAndRethrows) {
    csp::run([] {
        const auto caller = std::this_thread::get_id();
        EXPECT_NE(csp::blocking([] { return std::this_thread::get_id(); }), caller);
        EXPECT_THROW(csp::blocking([]() -> int { throw std::runtime_error("boom"); }), std::runtime_error);
        try {
            csp::blocking([] { throw std::invalid_argument("bad"); });
            ADD_FAILURE() << "no exception";
        } catch (const std::invalid_argument& e) {
            EXPECT_STREQ(e.what(), "bad");
        }
    });
}

// While f blocks its pool thread, the caller is parked ("blocking call") and
// its scheduler thread runs the others: here the goroutine that lets f end.
TEST(Blocking, CallerParksAndOthersRunMeanwhile) {
    csp::run([] {
        std::atomic<bool> release{false};
        std::atomic<bool> released_in_time{false};
        csp::go([&] {
            // Sees the caller parked, then lets f go on.
            EXPECT_TRUE(wait_until_blocked(1, "blocking call"));
            release = true;
        });
        csp::blocking([&] { released_in_time = wait_for_flag(release); });
        EXPECT_TRUE(released_in_time) << "f waited " << ms(generous) << " ms for a goroutine that never ran";
    });
}

// Three times as many calls as the pool has threads: they queue, all
// complete, and no more than the bound run at once.
TEST(Blocking, CallsBeyondThePoolSizeQueue) {
    csp::run([] {
        const std::size_t n = 3 * csp::blocking_threads();
        std::atomic<int> running{0};
        std::atomic<int> most{0};
        std::vector<int> results(n, -1);
        csp::wait_group wg;
        wg.add(static_cast<int>(n));
        for (std::size_t i = 0; i < n; ++i)
            csp::go([&, i] {
                results[i] = csp::blocking([&, i] {
                    const int now = ++running;
                    for (int m = most.load(); now > m && !most.compare_exchange_weak(m, now);) {
                    }
                    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // the blocking work itself
                    --running;
                    return static_cast<int>(i) * 2;
                });
                wg.done();
            });
        wg.wait();
        for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(results[i], static_cast<int>(i) * 2) << "call " << i;
        EXPECT_LE(most.load(), static_cast<int>(csp::blocking_threads()));
        EXPECT_GT(most.load(), 1) << "the calls ran one at a time";
    });
}

// The caller gives up when its context is cancelled; f runs on to its end.
TEST(Blocking, ContextCancelsTheWait) {
    std::atomic<bool> release{false};
    std::atomic<bool> finished{false};
    csp::run([&] {
        auto [ctx, cancel] = csp::with_cancel(csp::background());
        csp::go([&, cancel = cancel] {
            EXPECT_TRUE(wait_until_blocked(1, "select"));  // the caller waits for f or ctx
            cancel();
        });
        const auto got = csp::blocking(ctx, [&] {
            wait_for_flag(release);
            finished = true;
            return 5;
        });
        EXPECT_FALSE(got.has_value());
        EXPECT_EQ(ctx.err(), csp::context_error::canceled);
        EXPECT_FALSE(finished.load()) << "f ended before the cancellation: it should still be blocked";
        // Completes normally when the context stays live.
        auto [live, stop] = csp::with_cancel(csp::background());
        EXPECT_EQ(csp::blocking(live, [] { return 9; }), 9);
        EXPECT_TRUE(csp::blocking(live, [] {}));
        EXPECT_THROW(csp::blocking(live, []() -> int { throw std::runtime_error("x"); }), std::runtime_error);
        stop();
        // Done already: f is not even started.
        bool started = false;
        EXPECT_FALSE(csp::blocking(ctx, [&] { started = true; }));
        EXPECT_FALSE(started);
    });
    release = true;
    EXPECT_TRUE(wait_for_flag(finished)) << "the abandoned call never ended";
}

TEST(Blocking, OnAPlainThreadCallsFInline) {
    const auto me = std::this_thread::get_id();
    EXPECT_EQ(csp::blocking([] { return std::this_thread::get_id(); }), me);
    EXPECT_THROW(csp::blocking([]() -> int { throw std::runtime_error("x"); }), std::runtime_error);
    auto [ctx, cancel] = csp::with_cancel(csp::background());
    EXPECT_EQ(csp::blocking(ctx, [] { return 3; }), 3);
    cancel();
    EXPECT_FALSE(csp::blocking(ctx, [] { return 3; }).has_value());
}

}  // namespace
