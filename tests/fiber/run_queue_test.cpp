// A proc's local run queue (fiber/internal/run_queue.hpp): a ring of
// pointers that the owner uses at both ends (newest first, every 61st pick
// and thieves the oldest, a yield at the far end). White-box: the scheduler
// relies on its order, and on it never losing or repeating an entry as its
// counters wrap around the ring.
#include <gtest/gtest.h>

#include <deque>
#include <random>

#include <fiber/internal/run_queue.hpp>

namespace {

using csp::detail::run_queue;
constexpr std::size_t cap = run_queue<int>::capacity;

TEST(RunQueue, BothEndsKeepTheirOrder) {
    run_queue<int> q;
    int v[4] = {0, 1, 2, 3};
    EXPECT_TRUE(q.empty());
    q.push_back(&v[1]);
    q.push_back(&v[2]);
    q.push_front(&v[0]);  // before the ring's first slot: wraps to its last
    q.push_back(&v[3]);
    EXPECT_EQ(q.size(), 4u);
    EXPECT_EQ(q.pop_front(), &v[0]);
    EXPECT_EQ(q.pop_back(), &v[3]);
    EXPECT_EQ(q.pop_back(), &v[2]);
    EXPECT_EQ(q.pop_front(), &v[1]);
    EXPECT_TRUE(q.empty());
}

TEST(RunQueue, HoldsExactlyItsCapacity) {
    run_queue<int> q;
    static int v[cap];
    for (std::size_t i = 0; i < cap; ++i) {
        EXPECT_FALSE(q.full());
        q.push_back(&v[i]);
    }
    EXPECT_TRUE(q.full());
    for (std::size_t i = 0; i < cap; ++i) ASSERT_EQ(q.pop_front(), &v[i]) << "entry " << i;
    EXPECT_TRUE(q.empty());
}

// Random operations at both ends, many times around the ring in both
// directions, against std::deque.
TEST(RunQueue, MatchesADequeThroughManyWrapArounds) {
    run_queue<int> q;
    std::deque<int*> model;
    static int v[cap];
    std::mt19937 rng(12345);
    for (int step = 0; step < 200'000; ++step) {
        const unsigned op = rng() % 4;
        if (op < 2 && !q.full()) {
            int* x = &v[rng() % cap];
            if (op == 0) {
                q.push_back(x);
                model.push_back(x);
            } else {
                q.push_front(x);
                model.push_front(x);
            }
        } else if (!q.empty()) {
            int* got;
            if (op == 2) {
                got = q.pop_back();
                ASSERT_EQ(got, model.back()) << "step " << step;
                model.pop_back();
            } else {
                got = q.pop_front();
                ASSERT_EQ(got, model.front()) << "step " << step;
                model.pop_front();
            }
        }
        ASSERT_EQ(q.size(), model.size()) << "step " << step;
    }
}

}  // namespace
