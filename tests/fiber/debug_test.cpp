// Goroutine dumps: every live goroutine with what it waits on.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>

#include <chan/chan.hpp>
#include <fiber/debug.hpp>
#include <fiber/go.hpp>
#include <fiber/sleep.hpp>
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
        // The sender is now blocked in c.send, or about to be: wait until
        // the dump shows it (bounded).
        std::string dump;
        for (int i = 0; i < 1000; ++i) {
            dump = csp::goroutine_dump();
            if (dump.find("[chan send") != std::string::npos) break;
            csp::yield();
        }
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
    // Terminated fibers are freed by their scheduler shortly after; the dump
    // of an idle runtime ends up empty.
    std::string dump;
    for (int i = 0; i < 200; ++i) {
        dump = csp::goroutine_dump();
        if (dump.empty()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(dump, "");
}

}  // namespace
