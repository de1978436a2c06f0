// Goroutine dumps: every live goroutine with what it waits on; the same
// record read by programs (goroutine_states, goroutines_waiting) and the
// count of blocked plain threads.
#include "harness/harness.hpp"

#include <algorithm>
#include <atomic>
#include <sstream>
#include <string>
#include <thread>

#include <csignal>
#include <cstdlib>

#include <chan/chan.hpp>
#include <fiber/debug.hpp>
#include <fiber/go.hpp>
#include <fiber/sleep.hpp>
#include <fiber/mutex.hpp>
#include <fiber/wait_group.hpp>

namespace {

// A named function object, so the dump can name what the goroutine runs.
struct blocked_sender {
    csp::chan<int> c, started;
    void operator()() const {
        started.send(1);
        c.send(42);
    }
};

TEST(GoroutineDump, ListsBlockedGoroutinesWithWaitReasonAndEntry) {
    csp::run([] {
        csp::chan<int> c, started;
        csp::go(blocked_sender{c, started});
        started.recv();
        // The sender is now blocked in c.send, or about to be.
        EXPECT_TRUE(csp_test::wait_until_blocked(1, "chan send", csp_test::object_of(c)));
        const std::string dump = csp::goroutine_dump();
        EXPECT_NE(dump.find("[chan send"), std::string::npos) << dump;
        EXPECT_NE(dump.find("blocked_sender"), std::string::npos) << dump;
        EXPECT_EQ(*c.recv(), 42);
    });
}

// kill -QUIT prints the dump and the program goes on (checked in a child
// process, whose stderr the death test matches).
TEST(GoroutineDump, SigquitPrintsTheDumpAndTheProgramGoesOn) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            csp::dump_goroutines_on_sigquit();
            csp::run([] {
                csp::chan<int> c, started;
                csp::go(blocked_sender{c, started});
                started.recv();
                std::raise(SIGQUIT);
                // The dump is printed by a helper thread: wait for it, bounded.
                for (int i = 0; i < 5000 && csp::sigquit_dumps_printed() == 0; ++i)
                    csp::sleep_for(std::chrono::milliseconds(1));
                c.recv();
            });
            std::_Exit(csp::sigquit_dumps_printed() == 1 ? 0 : 1);
        },
        ::testing::ExitedWithCode(0), "SIGQUIT: goroutine dump(.|\n)*blocked_sender");
}

TEST(GoroutineDump, FinishedGoroutinesLeaveIt) {
    csp::run([] {
        csp::wait_group wg;
        for (int i = 0; i < 100; ++i) {
            wg.add(1);
            csp::go([&wg] { wg.done(); });
        }
        wg.wait();
    });
    // Terminated fibers are freed by their scheduler shortly after; an idle
    // runtime ends up listing no goroutine. (The dump may still list a
    // scheduler thread: a stand-in the monitor started on a loaded machine
    // stays, retired.)
    std::size_t left = 0;
    for (int i = 0; i < 200; ++i) {
        left = csp::goroutine_states().size();
        if (left == 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(left, 0u) << csp::goroutine_dump();
}

TEST(GoroutineStates, NameWhatEachGoroutineWaitsForAndOnWhat) {
    using csp_test::object_of;
    using csp_test::wait_until_blocked;
    csp::run([] {
        csp::chan<int> c;
        csp::wait_group wg;
        csp::mutex mu;
        wg.add(1);
        mu.lock();
        csp::go([c] { c.recv(); });
        csp::go([&wg] { wg.wait(); });
        csp::go([&mu] {
            mu.lock();
            mu.unlock();
        });
        ASSERT_TRUE(wait_until_blocked(1, "chan receive", object_of(c)));
        ASSERT_TRUE(wait_until_blocked(1, "sync.WaitGroup.Wait", &wg));
        ASSERT_TRUE(wait_until_blocked(1, "sync.Mutex.Lock", &mu));
        EXPECT_EQ(csp::goroutines_waiting("chan receive", &wg), 0u);  // the object must match
        EXPECT_EQ(csp::goroutines_waiting("chan send"), 0u);
        EXPECT_GE(csp::goroutines_waiting("chan receive"), 1u);  // any object

        const std::vector<csp::goroutine_state> states = csp::goroutine_states();
        EXPECT_TRUE(
            std::is_sorted(states.begin(), states.end(), [](const auto& a, const auto& b) { return a.id < b.id; }));
        auto find = [&](const char* reason, const void* object) {
            return std::count_if(states.begin(), states.end(), [&](const csp::goroutine_state& g) {
                return g.wait_reason == reason && g.object == object && !g.entry.empty();
            });
        };
        EXPECT_EQ(find("chan receive", object_of(c)), 1);
        EXPECT_EQ(find("sync.WaitGroup.Wait", &wg), 1);
        EXPECT_EQ(find("sync.Mutex.Lock", &mu), 1);
        EXPECT_EQ(find("running", nullptr), 1);  // this goroutine, the one asking
        EXPECT_EQ(std::count_if(states.begin(), states.end(),
                                [](const csp::goroutine_state& g) {
                                    return g.wait_reason == "running" && g.entry == "main (the function csp::run runs)";
                                }),
                  1)
            << csp::goroutine_dump();

        c.send(1);
        wg.done();
        mu.unlock();
        EXPECT_TRUE(csp_test::yield_until([&] {
            return csp::goroutines_waiting("chan receive", object_of(c)) +
                       csp::goroutines_waiting("sync.WaitGroup.Wait", &wg) +
                       csp::goroutines_waiting("sync.Mutex.Lock", &mu) ==
                   0;
        }));
    });
}

// A goroutine started with a function (not a function object) is named by
// the function's symbol, not by its type: Go prints main.worker(...).
void dump_worker(csp::chan<int> c) { c.recv(); }

TEST(GoroutineDump, NamesAFunctionBySymbolAndTheCallerAsRunning) {
    csp::run([] {
        csp::chan<int> c;
        csp::go(dump_worker, c);
        ASSERT_TRUE(csp_test::wait_until_blocked(1, "chan receive", csp_test::object_of(c)));
        const std::string dump = csp::goroutine_dump();
        EXPECT_NE(dump.find("[chan receive " + [&] {
                      std::ostringstream o;
                      o << csp_test::object_of(c);
                      return o.str();
                  }() + "]: (anonymous namespace)::dump_worker(csp::chan<int>)"),
                  std::string::npos)
            << dump;
        EXPECT_EQ(dump.find("void (*)("), std::string::npos) << dump;
        EXPECT_NE(dump.find("[running]: main (the function csp::run runs)"), std::string::npos) << dump;
        c.send(1);
    });
}

// Pooled fibers run one goroutine after another; a dump that reads a record
// while its fiber starts the next one must not mix the two (reincarnate
// rewrites the record without a lock: goroutine.cpp's seqlock).
void reused_worker_a(csp::chan<int> c) { c.recv(); }
void reused_worker_b(csp::chan<int> c) { c.recv(); }

TEST(GoroutineStates, ConsistentWhileFibersAreReused) {
    csp::run([] {
        csp::chan<int> a, b;
        std::atomic<bool> stop{false};
        std::atomic<long> spawned{0};
        csp::wait_group spawners;
        // Two spawners, each starting one worker at a time and releasing it:
        // the fibers go back to the pool and come out running either function.
        for (int k = 0; k < 2; ++k) {
            spawners.add(1);
            csp::go([&, k] {
                const csp::chan<int>& c = k == 0 ? a : b;
                // Eight at a time, let run (they wait in "chan receive"), then fed.
                while (!stop.load(std::memory_order_relaxed)) {
                    for (int i = 0; i < 8; ++i) csp::go(k == 0 ? reused_worker_a : reused_worker_b, c);
                    csp::yield();
                    for (int i = 0; i < 8; ++i) c.send(i);
                    spawned.fetch_add(8, std::memory_order_relaxed);
                }
                spawners.done();
            });
        }
        // The dumps come from a plain thread, in parallel at any CSP_PROCS.
        std::string problem;
        int dumps = 0;
        long checked = 0;  // waiting workers whose entry was checked
        std::thread dumper([&] {
            // 400 dumps at least, and until some saw waiting workers and the
            // fibers went round a while (a loaded machine may hold the
            // spawners back); bounded by a deadline.
            const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
            auto enough = [&] { return dumps >= 400 && checked > 0 && spawned.load(std::memory_order_relaxed) > 200; };
            for (; !enough() && problem.empty() && std::chrono::steady_clock::now() < until; ++dumps) {
                std::vector<std::uint64_t> ids;
                for (const csp::goroutine_state& g : csp::goroutine_states()) {
                    ids.push_back(g.id);
                    if (g.wait_reason != "chan receive") continue;
                    const char* want = g.object == csp_test::object_of(a)   ? "reused_worker_a"
                                       : g.object == csp_test::object_of(b) ? "reused_worker_b"
                                                                            : nullptr;
                    checked += want != nullptr;
                    if (want && g.entry.find(want) == std::string::npos)
                        problem = "goroutine " + std::to_string(g.id) + " waits on " + want + "'s channel but runs " +
                                  g.entry;
                }
                std::sort(ids.begin(), ids.end());
                if (std::adjacent_find(ids.begin(), ids.end()) != ids.end()) problem = "an id listed twice";
            }
            stop.store(true, std::memory_order_relaxed);
        });
        spawners.wait();
        dumper.join();
        EXPECT_EQ(problem, "");
        EXPECT_GT(checked, 0) << "no dump saw a worker waiting";
        EXPECT_GT(spawned.load(), 200) << "the fibers were hardly reused";
    });
}

// Go reports main blocked on a channel with no goroutine at all; so do we,
// for a plain thread (the runtime never started).
TEST(GoroutineDumpDeathTest, APlainThreadBlockedWithNoGoroutinesIsADeadlock) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            csp_test::bound_child();
            csp::chan<int> c;
            c.recv();
        },
        ::testing::ExitedWithCode(2), "fatal error: all goroutines are asleep - deadlock!(.|\n)*no goroutines");
}

// Plain threads blocked with no deadline are counted (deadlock detection
// needs them), those in a timed wait are not.
TEST(ThreadsWaiting, CountsPlainThreadsBlockedWithoutADeadline) {
    csp::chan<int> c;
    const std::size_t before = csp::threads_waiting();
    std::thread blocked([c] { c.recv(); });
    EXPECT_TRUE(csp_test::yield_until([&] { return csp::threads_waiting() == before + 1; }, csp_test::patience));
    c.send(1);
    blocked.join();
    EXPECT_EQ(csp::threads_waiting(), before);  // the waker takes it off the count

    std::thread timed([c] { EXPECT_TRUE(c.recv_for(std::chrono::seconds(20))); });
    // Likely in recv_for by now; the check holds either way.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(csp::threads_waiting(), before);
    c.send(2);
    timed.join();
}

}  // namespace
