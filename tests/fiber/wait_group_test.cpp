// csp::wait_group from goroutines, plain threads and both.
#include <fiber/wait_group.hpp>

#include "harness/harness.hpp"

namespace csp_test {
namespace {

class WaitGroup : public SettingTest {};

// Workers add for children they start (goroutines, from goroutines and from
// threads) and finish concurrently; wait() returns only after every done().
TEST_P(WaitGroup, WaitReturnsAfterEveryDone) {
    constexpr int workers = 32, children = 4;
    csp::wait_group wg;
    std::atomic<int> finished{0};
    wg.add(workers);
    task_group ts(mode());
    ts.go_n(workers, [&](int) {
        for (int k = 0; k < children; ++k) {
            wg.add(1);
            csp::go([&] {
                csp::yield();
                finished.fetch_add(1);
                wg.done();
            });
        }
        csp::yield();
        finished.fetch_add(1);
        wg.done();
    });
    run([&] {
        wg.wait();
        EXPECT_EQ(finished.load(), workers * (children + 1));
    });
}

TEST_P(WaitGroup, WaitAtZeroReturnsImmediately) {
    csp::wait_group fresh;
    csp::wait_group back_to_zero;
    back_to_zero.add(3);
    back_to_zero.add(-3);
    task t(main_on_thread(mode()), [&] {
        fresh.wait();
        back_to_zero.wait();
    });
    EXPECT_TRUE(t.finished_within(generous));
}

// Waiters on goroutines and threads are all held until the last done(),
// then all released, and see what was written before it.
TEST_P(WaitGroup, SeveralWaitersAllReleased) {
    constexpr int waiters = 8;
    csp::wait_group wg;
    wg.add(1);
    int published = 0;  // plain int: wait() must order it
    std::atomic<int> released{0};
    task_group ts(mode());
    ts.go_n(waiters, [&](int) {
        wg.wait();
        EXPECT_EQ(published, 42);
        released.fetch_add(1);
    });
    run([&] {
        EXPECT_TRUE(wait_until_blocked(mode(), waiters, "sync.WaitGroup.Wait", &wg));
        EXPECT_EQ(released.load(), 0);
        published = 42;
        wg.done();
    });
    EXPECT_TRUE(ts.finished_within(generous));
    EXPECT_EQ(released.load(), waiters);
}

// Reaching zero does not break the group: it can be used again, round after
// round, and each wait() covers exactly its round.
TEST_P(WaitGroup, ReusableAfterReachingZero) {
    constexpr int rounds = 30, per_round = 6;
    csp::wait_group wg;
    std::atomic<int> count{0};
    run([&] {
        for (int r = 1; r <= rounds; ++r) {
            wg.add(per_round);
            task_group ts(mode());
            ts.go_n(per_round, [&](int) {
                count.fetch_add(1);
                wg.done();
            });
            wg.wait();
            EXPECT_EQ(count.load(), r * per_round);
        }
    });
}

// Go's rule: once wait() returns, the group may be destroyed, while the
// done() that released it may still be returning. Here it is destroyed at
// once, round after round, with the done() on another goroutine or thread;
// a done() that touched the group after releasing its waiter would use
// freed memory (AddressSanitizer), or, when nobody waited, after wait()
// had already returned.
TEST_P(WaitGroup, MayBeDestroyedAsSoonAsWaitReturns) {
    constexpr int rounds = 2000;
    run([&] {
        for (int r = 0; r < rounds; ++r) {
            auto* wg = new csp::wait_group;
            wg->add(1);
            task_group ts(mode());
            ts.go_n(1, [wg](int) { wg->done(); });
            wg->wait();
            delete wg;
        }
    });
}

CSP_INSTANTIATE_ALL_SETTINGS(WaitGroup);

}  // namespace
}  // namespace csp_test
