// The runtime's start races nothing: with thread creation made slow, the
// first csp::run of a process still runs its main goroutine, and a real
// deadlock is still reported. In child processes: the runtime starts once
// per process.
//
// Found in CI at CSP_PROCS=1 under ASan (issue 9): the monitor thread was
// counted among the runtime's own threads before it existed, so the thread
// starting the runtime passed for it; the only scheduler thread, parking
// meanwhile, found every thread accounted for and reported csp::run's main
// goroutine, not yet queued, as a deadlock. pthread_create is interposed
// here to widen that window from microseconds to milliseconds: the race,
// if it came back, would show in every run.
#include "harness/harness.hpp"

#include <fiber/debug.hpp>

#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <thread>

namespace {

/// Microseconds each pthread_create waits before it creates the thread;
/// zero (off) unless a child test turns it on.
std::atomic<unsigned> creation_delay_us{0};

}  // namespace

// Every thread of this binary (std::thread, the runtime's) is created
// through here: the next definition (libc's, or a sanitizer's interceptor)
// does the work.
extern "C" int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*), void* arg) {
    using create_fn = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
    static const auto next = reinterpret_cast<create_fn>(::dlsym(RTLD_NEXT, "pthread_create"));
    if (const unsigned d = creation_delay_us.load(std::memory_order_relaxed)) ::usleep(d);
    return next(thread, attr, start, arg);
}

namespace {

using namespace csp_test;
using csp::chan;

constexpr unsigned slow_creation_us = 20'000;

TEST(StartChild, FirstRunWithSlowThreadCreationRunsMain) {
    expect_clean_exit_in_child([] {
        creation_delay_us = slow_creation_us;
        std::atomic<bool> ran{false};
        csp::run([&] { ran = true; });
        EXPECT_TRUE(ran.load());
        // A second run, with the runtime up: nothing left behind.
        int sum = 0;
        csp::run([&] {
            chan<int> ch;
            csp::go([ch] {
                for (int i = 1; i <= 10; ++i) ch.send(i);
            });
            for (int i = 0; i < 10; ++i) sum += *ch.recv();
        });
        EXPECT_EQ(sum, 55);
    });
}

// The SIGQUIT dumper is such a thread too: while it is being created, a
// plain thread blocked on a channel (and checking for a deadlock after its
// first 10 ms) must not take the creating thread for the dumper.
TEST(StartChild, SlowlyCreatedDumperIsNoDeadlockForABlockedThread) {
    expect_clean_exit_in_child([] {
        chan<int> ch;
        int got = 0;
        std::thread waiter([&] { got = ch.recv().value_or(-1); });
        ASSERT_TRUE(yield_until([] { return csp::threads_waiting() == 1; }));
        creation_delay_us = 5 * slow_creation_us;  // well past the waiter's first check
        csp::dump_goroutines_on_sigquit();
        creation_delay_us = 0;
        ch.send(7);
        waiter.join();
        EXPECT_EQ(got, 7);
    });
}

TEST(StartChild, DeadlockWithSlowThreadCreationIsStillReported) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            exit_after(std::chrono::milliseconds(10'000), 3, "no deadlock report within 10 s\n");
            creation_delay_us = slow_creation_us;
            csp::run([] {
                chan<int> never;
                never.recv();
            });
        },
        ::testing::ExitedWithCode(2), "fatal error: all goroutines are asleep - deadlock!");
}

}  // namespace
