// Stand-in threads (the monitor's, issue 9) keep deadlock detection and the
// goroutine dump truthful. In a child process: a fresh runtime.
#include "harness/harness.hpp"

#include <atomic>
#include <cstdio>
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
                    if (dump.find("stand-in for thread") != std::string::npos) std::fputs("stand-in seen\n", stderr);
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

}  // namespace
