// Exiting while goroutines run: the program ends cleanly, as a Go program
// does when main returns. Static destructors run at exit (the C++ part Go
// does not have): no goroutine may run into them. Each exit is a child
// process (gtest's threadsafe death tests re-execute the binary), many
// times over, on two scheduler threads.
#include "harness/harness.hpp"
#include "harness/stress.hpp"

#include <atomic>
#include <cstdlib>
#include <thread>
#include <map>
#include <mutex>
#include <string>

namespace {

using namespace csp_test;
using csp::chan;

// What the goroutines keep using until the end: objects with static storage
// duration, destroyed at exit.
std::mutex journal_mu;
std::map<int, std::string> journal;

int busy_work(int id, int round) {
    std::lock_guard lk(journal_mu);
    std::string& s = journal[(id * 31 + round) % 97];
    s.assign(static_cast<std::size_t>(round % 200) + 20, static_cast<char>('a' + id % 26));
    return static_cast<int>(journal.size());
}

constexpr int ring = 6;

// Goroutines that pass a token around, each touching the statics on every
// hop, plus one that never blocks; `started` hears from each once.
void start_busy_goroutines(const chan<int>& started) {
    std::vector<chan<int>> links(ring);
    for (int i = 0; i < ring; ++i) {
        csp::go([i, in = links[i], out = links[(i + 1) % ring], started] {
            bool told = false;
            for (int round = 0;; ++round) {
                int v = *in.recv();
                busy_work(i, round);
                if (!told) {
                    told = true;
                    started.send(i);
                }
                out.send(v + 1);
            }
        });
    }
    csp::go([started] {  // a goroutine that computes and never parks (it only yields)
        started.send(ring);
        for (int round = 0;; ++round) {
            busy_work(ring, round);
            if (round % 64 == 0) csp::yield();  // no preemption: let the others on its thread run
        }
    });
    links[0].send(0);
}

[[noreturn]] void exit_while_goroutines_run(bool from_run) {
    ::setenv("CSP_PROCS", "2", 1);  // read when the runtime starts, in this child
    bound_child();
    chan<int> started(16);
    auto wait_for_all = [&] {
        for (int i = 0; i <= ring; ++i) started.recv();
    };
    if (from_run) {
        csp::run([&] {
            start_busy_goroutines(started);
            wait_for_all();
        });
    } else {
        start_busy_goroutines(started);
        wait_for_all();
    }
    std::exit(0);  // what returning from main does: static destructors, then _exit
}

#if defined(__SANITIZE_THREAD__)
constexpr int exits = 12;  // each child costs ~250x as much (1 s: 52 s for 50 in CI)
#elif defined(CSP_TEST_SANITIZED)
constexpr int exits = 50;  // each child costs ~10x as much
#else
constexpr int exits = 200;
#endif

TEST(ExitDeathTest, ReturningFromMainWhileGoroutinesRunExitsCleanly) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    for (int i = 0; i < exits; ++i) {
        const bool from_run = i % 2 == 0;
        EXPECT_EXIT(exit_while_goroutines_run(from_run), ::testing::ExitedWithCode(0), "")
            << "exit " << i << (from_run ? " (after csp::run)" : " (goroutines started from main)");
        if (HasFailure()) break;  // one diagnosis is enough
    }
}

// A goroutine that computes and never comes to a switch cannot keep the
// program from exiting: after a grace period it is stopped where it stands.
TEST(ExitDeathTest, AGoroutineThatNeverSwitchesDoesNotHoldUpTheExit) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            ::setenv("CSP_PROCS", "2", 1);
            bound_child();
            static std::atomic<bool> spinning{false};
            csp::go([] {
                spinning.store(true);
                for (;;) std::atomic_signal_fence(std::memory_order_seq_cst);
            });
            while (!spinning.load()) std::this_thread::yield();
            std::exit(0);
        },
        ::testing::ExitedWithCode(0), "");
}

}  // namespace
