// What Go turns into a crash with a message, so do we: an exception escaping
// a goroutine, a stack overflow, a deadlock.
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

int deep(int n) {
    volatile char frame[512];
    frame[0] = static_cast<char>(n);
    return n == 0 ? frame[0] : deep(n - 1) + frame[0];
}

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

TEST_F(Death, StackOverflowHitsTheGuardPageAndIsReported) {
    EXPECT_DEATH(csp::run([] {
                     csp::chan<int> out;
                     csp::go(csp::stack_size{64 * 1024}, [out] { out.send(deep(1 << 20)); });
                     out.recv();
                 }),
                 "stack overflow in a goroutine");
}

TEST_F(Death, AllGoroutinesAsleepIsReportedLikeGo) {
    EXPECT_EXIT(csp::run([] {
                    csp::chan<int> a, b;
                    csp::go([=] { a.send(*b.recv()); });  // waits on b
                    a.recv();                             // waits on a: nobody sends on b
                }),
                ::testing::ExitedWithCode(2),
                "fatal error: all goroutines are asleep - deadlock!(.|\n)*chan receive");
}

TEST_F(Death, SelectWithNoCasesBlocksForeverAndIsSeen) {
    EXPECT_EXIT(csp::run([] {
                    csp::chan<int> nil = csp::chan<int>::nil();
                    csp::select(csp::case_recv(nil), csp::case_send(nil, 1));
                }),
                ::testing::ExitedWithCode(2), "all goroutines are asleep(.|\n)*select \\(no cases\\)");
}

TEST_F(Death, DeadlockAmongGoroutinesAndAPlainThreadIsReported) {
    EXPECT_EXIT(
        {
            csp::chan<int> c;
            csp::go([c] { c.recv(); });
            c.recv();  // this plain thread waits too: nobody can send
        },
        ::testing::ExitedWithCode(2), "all goroutines are asleep - deadlock!");
}

// No false alarm: a plain thread that has not touched a channel yet may still
// send, so a waiting program is not a deadlock while it lives.
TEST(NoDeadlock, APlainThreadStillRunningMaySend) {
    csp::chan<int> c;
    std::thread late([c] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));  // busy elsewhere, not blocked in csp
        c.send(7);
    });
    int got = 0;
    csp::run([&] { got = *c.recv(); });
    late.join();
    EXPECT_EQ(got, 7);
}

// No false alarm: goroutines blocked with a timer pending will wake.
TEST(NoDeadlock, ATimedWaitIsNotADeadlock) {
    csp::run([] {
        csp::chan<int> c;
        auto r = c.recv_for(std::chrono::milliseconds(100));
        EXPECT_EQ(r.status, csp::chan_status::timeout);
    });
}

}  // namespace
