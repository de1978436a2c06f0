// Deadlock detection (Go's checkdead): "all goroutines are asleep" is
// reported, with exit status 2 and the goroutine dump, exactly when nothing
// can ever wake anyone: on channels, wait_groups and mutexes, among
// goroutines and with plain threads; never while a plain thread still runs or
// waits with a deadline, nor when CSP_DEADLOCK_DETECTION=0. Each case runs in
// a child process (gtest's threadsafe death tests), a fresh runtime.
#include "harness/harness.hpp"

#include <cstdlib>

#include <fiber/mutex.hpp>
#include <fiber/wait_group.hpp>

namespace {

using namespace csp_test;
using csp::chan;

// A deadlock is reported within milliseconds of the last goroutine parking;
// the children give it this long (the report tests below are the control
// that it fits) before they end themselves with exit_after.
constexpr std::chrono::milliseconds report_window{3000};
// How long a child waits for a report that must not come. A report comes at
// once when the last scheduler thread parks, or after a plain thread's first
// 10 ms of waiting: a second is a hundred times that (three cost 24 s of CI).
constexpr std::chrono::milliseconds quiet_window{1000};
constexpr const char* no_report = "no deadlock report within the window\n";

// The deadlock reports, with the body (the test's main actor) a goroutine
// or a plain thread.
class Deadlock : public SettingTest {
protected:
    void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};
CSP_INSTANTIATE_SETTINGS(Deadlock);

// The body and a goroutine wait for each other on channels.
void channel_deadlock(setting s) {
    run_in(s, [] {
        chan<int> a, b;
        csp::go([=] { a.send(*b.recv()); });  // waits on b
        a.recv();                             // waits on a: nobody sends on b
    });
}

TEST_P(Deadlock, OnChannelsIsReportedLikeGo) {
    EXPECT_EXIT(
        {
            exit_after(report_window, 3, no_report);
            channel_deadlock(mode());
        },
        ::testing::ExitedWithCode(2), "fatal error: all goroutines are asleep - deadlock!(.|\n)*chan receive");
}

TEST_P(Deadlock, OnAWaitGroupIsReportedWithItsWaitReason) {
    EXPECT_EXIT(
        {
            exit_after(report_window, 3, no_report);
            run_in(mode(), [] {
                csp::wait_group wg;
                wg.add(1);
                csp::go([&wg] { wg.wait(); });
                wg.wait();  // nobody calls done()
            });
        },
        ::testing::ExitedWithCode(2), "all goroutines are asleep - deadlock!(.|\n)*sync.WaitGroup.Wait");
}

TEST_P(Deadlock, OnAMutexIsReportedWithItsWaitReason) {
    EXPECT_EXIT(
        {
            exit_after(report_window, 3, no_report);
            run_in(mode(), [] {
                csp::mutex mu;
                mu.lock();
                csp::go([&mu] { mu.lock(); });
                mu.lock();  // not recursive: waits for itself
            });
        },
        ::testing::ExitedWithCode(2), "all goroutines are asleep - deadlock!(.|\n)*sync.Mutex.Lock");
}

TEST_P(Deadlock, TurnedOffByTheEnvironmentIsNotReported) {
    EXPECT_EXIT(
        {
            ::setenv("CSP_DEADLOCK_DETECTION", "0", 1);  // read when the first check runs
            exit_after(quiet_window, 0, no_report);
            channel_deadlock(mode());
        },
        ::testing::ExitedWithCode(0), no_report);
}

TEST(DeadlockDeathTest, SelectWithNoCasesBlocksForeverAndIsSeen) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(csp::run([] {
                    csp::chan<int> nil = csp::chan<int>::nil();
                    csp::select(csp::case_recv(nil), csp::case_send(nil, 1));
                }),
                ::testing::ExitedWithCode(2), "all goroutines are asleep(.|\n)*select \\(no cases\\)");
}

// No false alarm: a plain thread waiting with a deadline will wake and may
// then send, so goroutines all blocked meanwhile are no deadlock. Each wait
// outlasts a goroutine that sleeps briefly and then blocks for good: the
// runtime goes idle, and checks, while the thread waits.
TEST(NoDeadlock, APlainThreadInATimedWaitIsNeverReported) {
    expect_clean_exit_in_child([] {
        chan<int> never, full(1);
        full.send(0);
        auto idle_soon = [never] {
            csp::go([never] {
                csp::sleep_for(50ms);
                never.recv();
            });
        };
        idle_soon();
        EXPECT_EQ(never.recv_for(300ms).status, csp::chan_status::timeout);
        idle_soon();
        EXPECT_EQ(full.send_for(1, 300ms), csp::chan_status::timeout);
        idle_soon();
        EXPECT_EQ(csp::select_until(steady::now() + 300ms, csp::case_recv(never), csp::case_send(full, 1)), std::nullopt);
        EXPECT_EQ(csp::goroutines_waiting("chan receive", object_of(never)), 3u);
    });
}

// No false alarm: a plain thread that has not touched a channel yet may still
// send, so a waiting program is not a deadlock while it lives.
TEST(NoDeadlock, APlainThreadStillRunningMaySend) {
    csp::chan<int> c;
    std::thread late([c] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));  // busy elsewhere, not blocked in csp
        c.send(7);
    });
    int got = 0;
    csp::run([&] { got = *c.recv(); });
    late.join();
    EXPECT_EQ(got, 7);
}

// No false alarm: goroutines blocked with a timer pending will wake.
TEST(NoDeadlock, ATimedWaitIsNotADeadlock) {
    csp::run([] {
        csp::chan<int> c;
        auto r = c.recv_for(std::chrono::milliseconds(100));
        EXPECT_EQ(r.status, csp::chan_status::timeout);
    });
}

}  // namespace
