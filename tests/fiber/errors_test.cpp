// Errors reported by throwing, caught where they are thrown: on goroutines,
// plain threads and both. A binary of their own: under AddressSanitizer an
// exception caught inside a goroutine can trip a false report (the runtime
// does not tell ASan about fiber stack switches; see GoroutineExceptions.
// CaughtAgainAtAShallowerDepth/goroutines), and that aborts the whole
// binary; the other sync tests keep running there.
#include <cstdio>
#include <stdexcept>

#include <fiber/mutex.hpp>
#include <fiber/once.hpp>
#include <chan/time.hpp>
#include <fiber/wait_group.hpp>

#include "once_body.hpp"

namespace csp_test {
namespace {

class Throws : public SettingTest {};

TEST_P(Throws, WaitGroupNegativeCounterLeavesTheCounterUnchanged) {
    run([&] {
        csp::wait_group wg;
        EXPECT_THROW(wg.done(), std::logic_error);
        EXPECT_THROW(wg.add(-5), std::logic_error);
        {
            task zero(partner_on_thread(mode()), [&] { wg.wait(); });
            EXPECT_TRUE(zero.finished_within(generous)) << "counter left below zero";
        }
        wg.add(2);
        EXPECT_THROW(wg.add(-3), std::logic_error);
        // Still 2: a waiter survives one done() and is released by the second.
        task waiter(partner_on_thread(mode()), [&] { wg.wait(); });
        EXPECT_NO_THROW(wg.done());
        EXPECT_TRUE(wait_until_blocked(mode(), 1, "sync.WaitGroup.Wait", &wg));
        EXPECT_FALSE(waiter.finished());
        EXPECT_NO_THROW(wg.done());
        EXPECT_TRUE(waiter.finished_within(generous));
        EXPECT_THROW(wg.done(), std::logic_error);
    });
}

TEST_P(Throws, MutexUnlockOfUnlocked) {
    run([] {
        csp::mutex mu;
        EXPECT_THROW(mu.unlock(), std::logic_error);
        mu.lock();
        EXPECT_NO_THROW(mu.unlock());
        EXPECT_THROW(mu.unlock(), std::logic_error);
        EXPECT_TRUE(mu.try_lock());  // the failed unlocks did not break it
        mu.unlock();
    });
}

struct boom : std::runtime_error {
    boom() : std::runtime_error("boom") {}
};

// An exception from f reaches f's caller only; the once counts as done, and
// neither the waiting callers nor later ones run f (Go).
TEST_P(Throws, OnceExceptionReachesItsCallerAndOnceIsDone) {
    csp::once once;
    std::atomic<int> runs{0}, arrived{0}, caught{0};
    run_tasks(mode(), once_callers, [&](int) {
        arrived.fetch_add(1);
        try {
            once.call(slow_once_body(mode(), runs, arrived, [] { throw boom(); }));
        } catch (const boom&) {
            caught.fetch_add(1);
        }
        EXPECT_TRUE(once.done());
    });
    EXPECT_EQ(runs.load(), 1);
    EXPECT_EQ(caught.load(), 1);
    run([&] {
        EXPECT_NO_THROW(once.call([&] {
            runs.fetch_add(1);
            throw boom();
        }));
    });
    EXPECT_EQ(runs.load(), 1);
}

// close() wakes timed waiters: a receiver with "closed" (not a timeout), a
// sender with closed_channel_error.
TEST_P(Throws, CloseWakesTimedWaiters) {
    csp::chan<int> recv_side, send_side;
    task receiver(partner_on_thread(mode()), [&] {
        EXPECT_EQ(recv_side.recv_for(10s).status, csp::chan_status::closed);
    });
    task sender(main_on_thread(mode()), [&] {
        EXPECT_THROW(send_side.send_for(1, 10s), csp::closed_channel_error);
    });
    EXPECT_TRUE(
        wait_until_blocked_with_deadline(partner_on_thread(mode()), 1, "chan receive", object_of(recv_side)));
    EXPECT_TRUE(wait_until_blocked_with_deadline(main_on_thread(mode()), 1, "chan send", object_of(send_side)));
    const auto t0 = steady::now();
    recv_side.close();
    send_side.close();
    EXPECT_TRUE(receiver.finished_within(generous));
    EXPECT_TRUE(sender.finished_within(generous));
    EXPECT_LT(steady::now() - t0, generous);
}

TEST_P(Throws, TickWithANonPositiveInterval) {
    run([] {
        EXPECT_THROW(csp::tick(0ms), std::invalid_argument);
        EXPECT_THROW(csp::tick(-1ms), std::invalid_argument);
    });
}

/// Throws from `depth` frames down.
[[gnu::noinline]] void throw_from(int depth) {
    char frame[64];  // a frame ASan puts redzones around
    std::snprintf(frame, sizeof frame, "depth %d", depth);
    if (depth == 0) throw std::runtime_error(frame);
    throw_from(depth - 1);
    asm volatile("" ::: "memory");  // not a tail call
}

// One actor throws and catches, each time from fewer frames down. Plain
// C++, fine on a thread; on a goroutine under ASan it fails as long as the
// runtime does not annotate its stack switches
// (__sanitizer_start_switch_fiber / __sanitizer_finish_switch_fiber): ASan
// cannot unpoison a goroutine stack on a throw ("ASan is ignoring requested
// __asan_handle_no_return"), and the unwound frames' stale redzones are then
// reported as a stack-buffer-underflow. Parameterized so that it runs after
// the tests above: the failure aborts the binary.
class GoroutineExceptions : public SettingTest {};

TEST_P(GoroutineExceptions, CaughtAgainAtAShallowerDepth) {
    int caught = 0;
    run([&] {
        for (int depth = 16; depth >= 0; --depth) {
            try {
                throw_from(depth);
            } catch (const std::runtime_error&) {
                ++caught;
            }
        }
    });
    EXPECT_EQ(caught, 17);
}

CSP_INSTANTIATE_ALL_SETTINGS(Throws);
CSP_INSTANTIATE_SETTINGS(GoroutineExceptions);

}  // namespace
}  // namespace csp_test
