// Panics: an exception escaping a goroutine ends the program naming it,
// unless a panic handler is set (stack overflows: stack_test.cpp; deadlocks:
// deadlock_test.cpp).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
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
    // The handler says when it has run: the goroutine's wait_group is done
    // while the exception unwinds, before the handler is called, and the
    // old handler (which ends the program) must not be back before then.
    static csp::chan<int> handled(1);
    auto old = csp::set_panic_handler([](std::exception_ptr) {
        seen.fetch_add(1);
        handled.send(1);
    });
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
        EXPECT_EQ(handled.recv_for(std::chrono::seconds(20)).value, 1) << "the panic handler did not run";
    });
    csp::set_panic_handler(old);
    EXPECT_EQ(seen.load(), 1);
}

}  // namespace
