// Panics: an exception escaping a goroutine ends the program naming it,
// unless a panic handler is set (stack overflows: stack_test.cpp; deadlocks:
// deadlock_test.cpp).
#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>

#include <chan/chan.hpp>
#include <chan/select.hpp>
#include <fiber/go.hpp>
#include <fiber/wait_group.hpp>

namespace {

class Death : public ::testing::Test {
protected:
    void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(Death, ExceptionEscapingAGoroutineEndsTheProgramNamingIt) {
    EXPECT_DEATH(csp::run([] { csp::go([] { throw std::runtime_error("boom in goroutine"); }); csp::chan<int>().recv(); }),
                 "panic: boom in goroutine");
}

TEST_F(Death, PanicHandlerKeepsTheProgramRunning) {
    static std::atomic<int> seen{0};
    auto old = csp::set_panic_handler([](std::exception_ptr) { seen.fetch_add(1); });
    csp::run([] {
        csp::wait_group wg;
        wg.add(1);
        csp::go([&wg] {
            struct done_on_exit {
                csp::wait_group& wg;
                ~done_on_exit() { wg.done(); }
            } d{wg};
            throw std::logic_error("handled");
        });
        wg.wait();
    });
    csp::set_panic_handler(old);
    EXPECT_EQ(seen.load(), 1);
}

}  // namespace
