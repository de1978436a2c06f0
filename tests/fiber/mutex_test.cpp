// csp::mutex from goroutines, plain threads and both on the same mutex.
#include <algorithm>
#include <mutex>
#include <vector>

#include <fiber/mutex.hpp>

#include "harness/harness.hpp"

namespace csp_test {
namespace {

class Mutex : public SettingTest {};

/// A read-yield-write increment: without mutual exclusion, the yield lets
/// another holder in and updates get lost (and `inside` sees two holders).
struct counted_section {
    csp::mutex mu;
    long value = 0;
    std::atomic<int> inside{0};
    std::atomic<int> overlaps{0};

    void increment() {
        std::lock_guard lk(mu);
        if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
        const long v = value;
        csp::yield();
        value = v + 1;
        inside.fetch_sub(1);
    }
};

TEST_P(Mutex, MutualExclusion) {
    // 100 goroutines x 1000. Threads get the lock through the kernel, and
    // each hand-off between a thread and a goroutine wakes a scheduler
    // thread too: fewer of those keep the test fast on a loaded machine.
    const int workers = mode() == setting::goroutines ? 100 : mode() == setting::threads ? 4 : 8;
    const int iters = mode() == setting::goroutines ? 1000 : mode() == setting::threads ? 1000 : 250;
    counted_section s;
    run_tasks(mode(), workers, [&](int) {
        for (int i = 0; i < iters; ++i) s.increment();
    });
    EXPECT_EQ(s.value, static_cast<long>(workers) * iters);
    EXPECT_EQ(s.overlaps.load(), 0);
}

TEST_P(Mutex, TryLockAndBlockingLock) {
    csp::mutex mu;
    int guarded = 0;
    run([&] {
        EXPECT_TRUE(mu.try_lock());
        EXPECT_FALSE(mu.try_lock());  // not recursive
        {
            task t(partner_on_thread(mode()), [&] { EXPECT_FALSE(mu.try_lock()); });
        }
        // A blocking lock() from the other kind of actor waits for unlock().
        task waiter(partner_on_thread(mode()), [&] {
            std::lock_guard lk(mu);
            EXPECT_EQ(guarded, 1);
            guarded = 2;
        });
        EXPECT_TRUE(wait_until_blocked(mode(), 1, "sync.Mutex.Lock", &mu));
        EXPECT_FALSE(waiter.finished());
        guarded = 1;
        mu.unlock();
        EXPECT_TRUE(waiter.finished_within(generous));
        EXPECT_TRUE(mu.try_lock());
        EXPECT_EQ(guarded, 2);
        mu.unlock();
    });
}

// Hogs take the mutex back to back. Unlock hands it to the longest waiter,
// so once the main actor is queued, at most one section per hog (plus the one
// in progress) runs before it gets the lock: no starvation. What can be
// measured is the count from just before lock(), which also takes in the
// sections that ran before the main actor got into the queue: usually none,
// but an OS preemption there lets the hogs run on, so the median of several
// trials is checked.
TEST_P(Mutex, FifoHandOffBoundsTheWait) {
    constexpr int hogs = 3, trials = 15;
    csp::mutex mu;
    std::atomic<long> sections{0};
    std::atomic<bool> stop{false};
    task_group ts(mode());
    ts.go_n(hogs, [&](int) {
        while (!stop.load()) {
            std::lock_guard lk(mu);
            sections.fetch_add(1);
            csp::yield();
        }
    });
    run([&] {
        std::vector<long> passed;
        for (int t = 0; t < trials; ++t) {
            const long warm = sections.load() + 50;
            EXPECT_TRUE(yield_until([&] { return sections.load() >= warm; }));
            const long before = sections.load();
            mu.lock();
            passed.push_back(sections.load() - before);
            mu.unlock();
        }
        stop = true;
        std::sort(passed.begin(), passed.end());
        EXPECT_LE(passed[trials / 2], hogs + 1) << "median; max " << passed.back();
    });
}

TEST_P(Mutex, WorksWithStandardLockTypes) {
    constexpr int workers = 8, iters = 200;
    csp::mutex a, b;
    long both = 0, only_a = 0;
    run_tasks(mode(), workers, [&](int i) {
        for (int k = 0; k < iters; ++k) {
            {
                // Opposite orders: std::scoped_lock's deadlock avoidance
                // needs try_lock to work.
                auto lk = i % 2 ? std::scoped_lock(a, b) : std::scoped_lock(b, a);
                ++both;
                csp::yield();
            }
            {
                std::unique_lock lk(a, std::defer_lock);
                lk.lock();
                ++only_a;
            }
        }
    });
    EXPECT_EQ(both, workers * iters);
    EXPECT_EQ(only_a, workers * iters);

    std::unique_lock held(a);
    {
        task t(partner_on_thread(mode()), [&] {
            std::unique_lock lk(a, std::try_to_lock);
            EXPECT_FALSE(lk.owns_lock());
        });
    }
    held.unlock();
    std::unique_lock lk(a, std::try_to_lock);
    EXPECT_TRUE(lk.owns_lock());
}

// Plain threads and goroutines hand the mutex to each other, round after
// round, while the test's thread waits for them. Whenever every goroutine
// waits for the mutex, a thread holds it or was just handed it: progress,
// never "all goroutines are asleep".
TEST(MutexHandOff, BetweenThreadsAndGoroutinesIsNotADeadlock) {
    constexpr int rounds = 10, workers = 4, iters = 200;
    for (int r = 0; r < rounds; ++r) {
        counted_section s;
        run_tasks(setting::mixed, workers, [&](int) {
            for (int i = 0; i < iters; ++i) s.increment();
        });
        ASSERT_EQ(s.value, long{workers} * iters) << "round " << r;
    }
}

CSP_INSTANTIATE_ALL_SETTINGS(Mutex);

}  // namespace
}  // namespace csp_test
