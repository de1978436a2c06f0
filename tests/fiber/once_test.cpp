// csp::once under concurrent callers on goroutines, threads and both.
#include <fiber/once.hpp>

#include "once_body.hpp"

namespace csp_test {
namespace {

class Once : public SettingTest {};

// f runs once; every caller, including those that arrived while it ran,
// returns only after it finished and sees what it wrote.
TEST_P(Once, RunsExactlyOnceAndLatecomersWait) {
    csp::once once;
    std::atomic<int> runs{0}, arrived{0};
    int value = 0;  // plain int: the once must order it
    EXPECT_FALSE(once.done());
    run_tasks(mode(), once_callers, [&](int) {
        arrived.fetch_add(1);
        once.call(slow_once_body(mode(), runs, arrived, [&] { value = 42; }));
        EXPECT_EQ(value, 42);
        EXPECT_TRUE(once.done());
    });
    EXPECT_EQ(runs.load(), 1);
    once.call([&] { runs.fetch_add(1); });
    EXPECT_EQ(runs.load(), 1);
}

CSP_INSTANTIATE_ALL_SETTINGS(Once);

}  // namespace
}  // namespace csp_test
