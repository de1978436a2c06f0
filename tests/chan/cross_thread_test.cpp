// Goroutines and plain threads on the same channels.
#include "chan/mpmc.hpp"

namespace {

using namespace csp_test;
using csp::case_recv;
using csp::case_send;
using csp::chan;

// The body runs as a goroutine (csp::run); tasks are started explicitly as
// plain threads or goroutines.
template <class F>
void in_runtime(F&& body) {
    run_in(setting::goroutines, std::forward<F>(body));
}

// `rounds` round trips between this goroutine and an echoing plain thread.
void ping_pong_with_a_thread(int rounds) {
    chan<int> ping, pong;
    std::thread echo([=] {
        for (int v : ping) pong.send(v + 1);
    });
    for (int i = 0; i < rounds; ++i) {
        ping.send(i);
        if (pong.recv() != i + 1) {
            ADD_FAILURE() << "round " << i;
            break;
        }
    }
    ping.close();
    echo.join();
}

// A plain thread that wakes a goroutine and then blocks must not be taken
// for a deadlock: the woken goroutine is runnable. Run in a child process,
// since the runtime's deadlock report ends the process (exit status 2).
TEST(CrossThreadDeathTest, ThreadWakingAGoroutineThenBlockingIsNoDeadlock) {
    expect_clean_exit_in_child([] { in_runtime([] { ping_pong_with_a_thread(50000); }); });
}

TEST(CrossThread, PlainThreadsProduceGoroutinesConsume) {
    in_runtime([] {
        for (std::size_t cap : {0u, 1u, 16u})
            run_mpmc({cap, 2, 8, 2000, setting::threads, setting::goroutines});
    });
}

TEST(CrossThread, GoroutinesProducePlainThreadsConsume) {
    in_runtime([] {
        for (std::size_t cap : {0u, 1u, 16u})
            run_mpmc({cap, 8, 2, 500, setting::goroutines, setting::threads});
    });
}

TEST(CrossThread, MixedProducersAndConsumers) {
    in_runtime([] {
        for (std::size_t cap : {0u, 3u})
            run_mpmc({cap, 4, 4, 1000, setting::mixed, setting::mixed});
    });
}

TEST(CrossThread, PingPongBetweenGoroutineAndThread) {
    in_runtime([] { ping_pong_with_a_thread(2000); });
}

TEST(CrossThread, ThousandGoroutinesBlockedOnOneChannelAreFedByThreads) {
    in_runtime([] {
        constexpr int n = 1000;
        chan<int> work, results(n);
        for (int i = 0; i < n; ++i)
            csp::go([=] { results.send(*work.recv() * 2); });
        {
            task_group feeders(setting::threads);
            feeders.go_n(2, [&](int t) {
                for (int i = t; i < n; i += 2) work.send(i);
            });
        }
        long sum = 0;
        for (int i = 0; i < n; ++i) sum += *results.recv();
        EXPECT_EQ(sum, 2L * n * (n - 1) / 2);
        EXPECT_EQ(work.try_recv().status, csp::chan_status::would_block);
    });
}

TEST(CrossThread, SelectInAPlainThreadWithGoroutinePartners) {
    in_runtime([] {
        chan<int> a, b, out;
        csp::go([=] {
            for (int i = 0; i < 500; ++i) a.send(i);
        });
        csp::go([=] {
            for (int i = 0; i < 500; ++i) b.send(-1 - i);
        });
        long from_a = 0, from_b = 0, sent = 0;
        std::thread selecting([&] {
            int next_a = 0, next_b = -1;
            while (from_a + from_b < 1000) {
                csp::select(case_recv(a,
                                      [&](std::optional<int> v) {
                                          EXPECT_EQ(*v, next_a++);
                                          ++from_a;
                                      }),
                            case_recv(b,
                                      [&](std::optional<int> v) {
                                          EXPECT_EQ(*v, next_b--);
                                          ++from_b;
                                      }));
            }
            for (int i = 0; i < 100; ++i)
                if (csp::select_until(steady::now() + patience, case_send(out, i)) == 0) ++sent;
            out.close();
        });
        int expect = 0;
        for (int v : out) EXPECT_EQ(v, expect++);
        selecting.join();
        EXPECT_EQ(from_a, 500);
        EXPECT_EQ(from_b, 500);
        EXPECT_EQ(sent, 100);
        EXPECT_EQ(expect, 100);
    });
}

TEST(CrossThread, SelectTimeoutsInAThreadAndAGoroutineWhileOthersRun) {
    in_runtime([] {
        chan<int> never, busy;
        chan<bool> goroutine_timed_out(1);
        csp::go([=] { goroutine_timed_out.send(csp::select_until(steady::now() + 20ms, case_recv(never)) == std::nullopt); });
        std::thread t([=] {
            const auto t0 = steady::now();
            EXPECT_EQ(csp::select_until(t0 + 20ms, case_recv(never)), std::nullopt);
            EXPECT_GE(since(t0), 20ms);
            for (int i = 0; i < 1000; ++i) busy.send(i);
            busy.close();
        });
        int n = 0;
        for (int v : busy) EXPECT_EQ(v, n++);
        t.join();
        EXPECT_EQ(n, 1000);
        EXPECT_EQ(goroutine_timed_out.recv(), true);
    });
}

TEST(CrossThread, GoroutineStartedFromAPlainThread) {
    chan<int> out;
    std::thread t([out] { csp::go([out] { out.send(3); }); });
    EXPECT_EQ(out.recv_for(patience).value, 3);
    t.join();
}

}  // namespace
