// Goroutine dumps: every live goroutine with what it waits on.
#include <gtest/gtest.h>

#include <chan/chan.hpp>
#include <fiber/debug.hpp>
#include <fiber/go.hpp>
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
