// Stand-in threads (the monitor's, issue 9) keep deadlock detection and the
// goroutine dump truthful. In a child process: a fresh runtime.
#include "harness/harness.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

using namespace csp_test;
using csp::chan;

// Every scheduler thread spins while a sleeper's timer comes due: the
// monitor fires it and starts a stand-in thread, which runs the sleeper (the
// dump then names the stand-in). The sleeper looks only once every spinner
// has started (before that it may have run on a free scheduler thread, which
// proves nothing), and the spinners stop once it has looked (or after 2 s, so
// a monitor that never acts still ends in a diagnosis). Then the stand-in
// retires, and main waits forever on a channel: that is a deadlock, reported
// as usual with the retired stand-in asleep like the others.
TEST(SchedChild, DeadlockIsReportedOnceStandInsRetire) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            exit_after(std::chrono::milliseconds(5000), 3, "no deadlock report within the window\n");
            csp::run([] {
                static std::atomic<std::size_t> spinning{0};
                static std::atomic<bool> looked{false};
                csp::go([] {
                    do csp::sleep_for(2ms);
                    while (spinning.load() < csp::procs());
                    const std::string dump = csp::goroutine_dump();
                    looked.store(true);
                    // A stand-in covering (or retired already: one may have
                    // started while main was still spawning, under a
                    // sanitizer, and taken a spinner, leaving its proc free).
                    if (dump.find("stand-in") != std::string::npos) std::fputs("stand-in seen\n", stderr);
                    else std::fprintf(stderr, "no stand-in in the dump:\n%s", dump.c_str());
                });
                for (std::size_t i = 0; i < csp::procs(); ++i)
                    csp::go([] {
                        spinning.fetch_add(1);
                        const auto until = steady::now() + 2s;
                        while (!looked.load() && steady::now() < until) {
                        }
                    });
                chan<int> never;
                never.recv();
            });
        },
        ::testing::ExitedWithCode(2), "stand-in seen(.|\n)*fatal error: all goroutines are asleep - deadlock!");
}

// A retired stand-in sleeps holding nothing, like an idle scheduler thread:
// the exit does not wait for it to come to a safe point (it never would: it
// would wait out the whole grace, a second, then stop it by signal).
TEST(SchedChild, ARetiredStandInDoesNotHoldUpTheExit) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            exit_after(std::chrono::milliseconds(10000), 3, "hung\n");
            static steady::time_point exit_called;
            // Registered before the runtime starts, so it runs after the
            // runtime's own exit handler (atexit runs them in reverse).
            std::atexit([] {
                const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - exit_called);
                if (took < 500ms) std::fputs("the exit did not wait\n", stderr);
                else std::fprintf(stderr, "the exit waited %lld ms\n", static_cast<long long>(took.count()));
            });
            csp::run([] {
                static std::atomic<bool> stop_spinning{false};
                static std::atomic<std::size_t> spinning{0}, spun{0};
                csp::go([] {  // needs a thread while every scheduler thread spins: a stand-in
                    do csp::sleep_for(1ms);
                    while (spinning.load() < csp::procs());
                    stop_spinning.store(true);
                });
                for (std::size_t i = 0; i < csp::procs(); ++i)
                    csp::go([] {
                        spinning.fetch_add(1);
                        const auto until = steady::now() + 3s;
                        while (!stop_spinning.load() && steady::now() < until) {
                        }
                        spun.fetch_add(1);
                    });
                // Every spinner done (a goroutine still in its loop would
                // rightly hold up the exit) and a stand-in retired.
                while (spun.load() < csp::procs() ||
                       csp::goroutine_dump().find("stand-in, retired") == std::string::npos)
                    csp::sleep_for(1ms);
            });
            exit_called = steady::now();
            std::exit(0);
        },
        ::testing::ExitedWithCode(0), "the exit did not wait");
}

}  // namespace
