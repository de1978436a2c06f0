// A select with no cases (Go's select {}) blocks forever: the deadlock
// detector reports it, and the goroutine list shows it as Go does. A wait
// whose deadline is "never" is not a deadlock: Go counts it as a timer.
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

// A wait until "never" (a saturated duration) parks without a timer, but Go
// counts it as a pending timer: no deadlock is reported. The child ends
// itself once the detector has run with everyone blocked and held back
// (csp::deadlock_checks_deferred); a report would end it first, with 2.
// A goroutine that finishes meanwhile lets the runtime go idle and check.
class NeverDeath : public SettingTest {
protected:
    void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};
CSP_INSTANTIATE_SETTINGS(NeverDeath);

template <class Wait>
[[noreturn]] void wait_until_never(setting s, Wait wait) {
    exit_once([] { return csp::deadlock_checks_deferred() > 0; }, 0, "checked, not reported\n");
    run_in(s, [&] {
        csp::chan<int> nobody;
        csp::go([nobody] { nobody.recv(); });  // blocked for good, untimed
        csp::go([] {});                        // finishes: the runtime goes idle
        wait();
    });
    std::_Exit(1);  // the wait ended
}

TEST_P(NeverDeath, AWaitUntilNeverIsNotADeadlock) {
    csp::chan<int> never;
    const auto checked = ::testing::ExitedWithCode(0);
    EXPECT_EXIT(wait_until_never(mode(), [&] { (void)never.recv_for(std::chrono::hours::max()); }), checked,
                "checked, not reported");
    EXPECT_EXIT(wait_until_never(mode(), [&] { (void)never.send_for(1, std::chrono::nanoseconds::max()); }),
                checked, "checked, not reported");
    EXPECT_EXIT(wait_until_never(mode(), [] { csp::sleep_for(std::chrono::steady_clock::duration::max()); }),
                checked, "checked, not reported");
    EXPECT_EXIT(wait_until_never(mode(), [&] {
                    csp::select_until(std::chrono::steady_clock::time_point::max(), csp::case_recv(never));
                }),
                checked, "checked, not reported");
}

}  // namespace
