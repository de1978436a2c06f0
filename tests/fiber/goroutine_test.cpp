// Goroutines: csp::go, csp::run, csp::yield, csp::sleep_for (stacks: stack_test.cpp).
#include "harness/harness.hpp"

#include <memory>
#include <stdexcept>
#include <string>

namespace {

using namespace csp_test;
using csp::chan;

// Started from a goroutine (inside csp::run) or from a plain thread.
class Goroutine : public SettingTest {};
CSP_INSTANTIATE_SETTINGS(Goroutine);

TEST_P(Goroutine, ArgumentsAreCopiedOrMovedIn) {
    run([&] {
        chan<std::string> out(2);
        counted::reset();
        counted lvalue(1);
        auto owned = std::make_unique<int>(2);
        csp::go(
            [out](const counted& c, std::unique_ptr<int> p, std::string s) {
                out.send(std::to_string(c.value()) + "," + std::to_string(*p) + "," + s);
            },
            lvalue, std::move(owned), std::string("three"));
        EXPECT_EQ(owned, nullptr);  // moved into the goroutine
        lvalue = counted(100);      // the goroutine holds its own copy
        EXPECT_EQ(out.recv_for(patience).value, "1,2,three");
        EXPECT_EQ(counted::copies(), 1);  // one decay-copy of the lvalue, no more
    });
}

TEST_P(Goroutine, ThousandsOfGoroutinesAllRun) {
    run([&] {
#if defined(__SANITIZE_THREAD__)
        // ThreadSanitizer counts each live goroutine against its 8128-thread
        // limit, and 4,000 took 20 s in CI.
        constexpr int n = 1000;
#else
        constexpr int n = 10000;
#endif
        chan<int> done(64);
        for (int i = 0; i < n; ++i) csp::go([done](int k) { done.send(k); }, i);
        std::vector<bool> seen(n, false);
        for (int i = 0; i < n; ++i) {
            auto r = done.recv_for(patience);
            ASSERT_TRUE(r);
            ASSERT_FALSE(seen[*r]);
            seen[*r] = true;
        }
        EXPECT_EQ(done.try_recv().status, csp::chan_status::would_block);
    });
}

TEST_P(Goroutine, YieldLetsAnotherGoroutineRun) {
    run([&] {
        // Two goroutines take turns on a shared counter, waiting with yield
        // only: with one scheduler thread this needs yield to switch.
        std::atomic<int> turn{0};
        chan<int> done;
        constexpr int rounds = 200;
        auto player = [&turn, done](int me) {
            const auto t0 = steady::now();
            for (int r = 0; r < rounds; ++r) {
                while (turn.load() % 2 != me) {
                    if (since(t0) > patience) {
                        ADD_FAILURE() << "the other goroutine never ran";
                        done.send(me);
                        return;
                    }
                    csp::yield();
                }
                turn.fetch_add(1);
            }
            done.send(me);
        };
        csp::go(player, 0);
        csp::go(player, 1);
        done.recv();
        done.recv();
        EXPECT_EQ(turn.load(), 2 * rounds);
    });
}

TEST_P(Goroutine, SleepParksOnlyTheSleepingGoroutine) {
    run([&] {
        // A ping-pong between two goroutines keeps going while a third one
        // sleeps; with one scheduler thread a sleep that blocked the thread
        // would show no progress at all.
        std::atomic<long> rounds{0};
        chan<long> progress(1);
        const auto t0 = steady::now();
        csp::go([&rounds, progress] {
            const long before = rounds.load();
            csp::sleep_for(50ms);
            progress.send(rounds.load() - before);
        });
        chan<int> ping, pong;
        csp::go([ping, pong] {
            for (int v : ping) pong.send(v);
        });
        csp::recv_result<long> done;
        for (int i = 0; !(done = progress.try_recv()); ++i) {
            ping.send(i);
            ASSERT_EQ(pong.recv(), i);
            ++rounds;
            ASSERT_LT(since(t0), patience);
        }
        ping.close();
        EXPECT_GT(*done, 0) << "no ping-pong round while a goroutine slept";
        EXPECT_GE(since(t0), 50ms);
    });
}

TEST_P(Goroutine, SleepUntilAPassedDeadlineReturnsAtOnce) {
    run([&] {
        const auto t0 = steady::now();
        csp::sleep_until(t0 - 1s);
        csp::sleep_for(0ms);
        EXPECT_LT(since(t0), 1s);
        csp::sleep_for(10ms);
        EXPECT_GE(since(t0), 10ms);
    });
}

TEST(GoroutineRun, ReturnsWhenMainReturns) {
    int ran = 0;
    csp::run([&] { ++ran; });
    EXPECT_EQ(ran, 1);
}

TEST(GoroutineRun, RethrowsWhatMainThrows) {
    EXPECT_THROW(csp::run([] { throw std::runtime_error("boom"); }), std::runtime_error);
    try {
        csp::run([] { throw std::out_of_range("which"); });
        ADD_FAILURE() << "no exception";
    } catch (const std::out_of_range& e) {
        EXPECT_STREQ(e.what(), "which");
    }
}

TEST(GoroutineRun, NestedRunCallsDirectly) {
    int depth = 0;
    csp::run([&] {
        csp::run([&] { depth = 2; });
        EXPECT_EQ(depth, 2);
        EXPECT_THROW(csp::run([] { throw std::logic_error("inner"); }), std::logic_error);
    });
    EXPECT_EQ(depth, 2);
}

TEST(GoroutinePanic, HandlerSeesEscapedException) {
    static chan<std::string> caught(1);
    auto old = csp::set_panic_handler([](std::exception_ptr e) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            caught.send(ex.what());
        }
    });
    csp::go([] { throw std::runtime_error("escaped"); });
    EXPECT_EQ(caught.recv_for(patience).value, "escaped");
    csp::set_panic_handler(old);
}

}  // namespace
