// A select with no cases (Go's select {}) blocks forever: the deadlock
// detector reports it, and the goroutine list shows it as Go does. A wait
// whose deadline is "never" parks without a timer, so it is reported too.
#include "harness/harness.hpp"

#include <chan/time.hpp>

namespace {

using namespace csp_test;

class NoCases : public SettingTest {};
CSP_INSTANTIATE_SETTINGS(NoCases);

TEST_P(NoCases, ASelectWithOnlyADefaultRunsIt) {
    run([&] {
        bool ran = false;
        EXPECT_EQ(csp::select(csp::case_default([&] { ran = true; })), 0);
        EXPECT_TRUE(ran);
    });
}

TEST_P(NoCases, ASelectWithNoCasesAndADeadlineTimesOut) {
    run([&] {
        const auto t0 = steady::now();
        EXPECT_EQ(csp::select_for(2ms), std::nullopt);
        EXPECT_GE(since(t0), 2ms);
    });
}

class NoCasesDeath : public ::testing::Test {
protected:
    void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(NoCasesDeath, MainBlockedInSelectWithNoCasesIsADeadlockLikeGo) {
    EXPECT_EXIT(csp::run([] { csp::select(); }), ::testing::ExitedWithCode(2),
                "fatal error: all goroutines are asleep - deadlock!(.|\n)*\\[select \\(no cases\\)\\]");
}

TEST_F(NoCasesDeath, AGoroutineInSelectWithNoCasesIsListedAsSuch) {
    EXPECT_EXIT(csp::run([] {
                    csp::chan<int> never;
                    csp::go([] { csp::select(); });
                    never.recv();
                }),
                ::testing::ExitedWithCode(2),
                "all goroutines are asleep(.|\n)*goroutine [0-9]+ \\[select \\(no cases\\)\\]");
}

TEST_F(NoCasesDeath, AWaitThatNeverTimesOutIsADeadlock) {
    EXPECT_EXIT(csp::run([] {
                    csp::chan<int> never;
                    (void)never.recv_for(std::chrono::hours::max());
                }),
                ::testing::ExitedWithCode(2), "all goroutines are asleep(.|\n)*chan receive");
    EXPECT_EXIT(csp::run([] { csp::sleep_for(std::chrono::steady_clock::duration::max()); }),
                ::testing::ExitedWithCode(2), "all goroutines are asleep(.|\n)*sleep");
}

}  // namespace
