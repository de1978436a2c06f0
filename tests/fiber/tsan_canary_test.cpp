// Is ThreadSanitizer awake inside goroutines? Built into TSan builds only: a
// deliberate race that TSan must report. Without it, a suite that passes
// under TSan could also mean that TSan saw nothing.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include <fiber/go.hpp>

namespace {

int shared_value = 0;  // written and read with nothing ordering the two, on purpose

class TsanCanary : public ::testing::Test {
protected:
    void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

// A goroutine writes, a plain thread reads. Their only link is a relaxed
// atomic, which orders nothing: a data race, wherever the goroutine runs.
[[noreturn]] void goroutine_races_with_a_thread() {
    std::atomic<bool> written{false};
    std::thread reader([&] {
        while (!written.load(std::memory_order_relaxed)) std::this_thread::yield();
        std::printf("read %d\n", shared_value);
    });
    csp::run([&] {
        shared_value = 42;
        written.store(true, std::memory_order_relaxed);
    });
    reader.join();
    std::exit(0);  // TSan turns the exit status into 66 after a report
}

TEST_F(TsanCanary, RaceBetweenAGoroutineAndAThreadIsReported) {
    EXPECT_EXIT(goroutine_races_with_a_thread(), ::testing::ExitedWithCode(66),
                "WARNING: ThreadSanitizer: data race");
}

}  // namespace
