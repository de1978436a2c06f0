// csp::run returns when its main goroutine does, however many goroutines are
// still blocked (Go drops them at exit), and the runtime then serves another
// csp::run. In a child process: the runtime's threads and the stranded
// goroutines live as long as the process.
#include "harness/harness.hpp"

#include <fiber/mutex.hpp>
#include <fiber/wait_group.hpp>

namespace {

using namespace csp_test;
using csp::chan;

TEST(RunDeathTest, ReturnsPromptlyWhileGoroutinesAreBlockedAndRunsAgain) {
    expect_clean_exit_in_child([] {
        chan<int> stranded;  // one stranded goroutine waits here for a value
        csp::mutex mu;
        csp::wait_group wg;
        steady::time_point main_returned;
        csp::run([&] {
            mu.lock();
            wg.add(1);
            csp::go([stranded] { EXPECT_EQ(stranded.recv(), 5); });
            csp::go([&mu] { mu.lock(); });
            csp::go([&wg] { wg.wait(); });
            csp::go([] { csp::select(csp::case_recv(chan<int>()), csp::case_recv(chan<int>())); });
            ASSERT_TRUE(wait_until_blocked(1, "chan receive", object_of(stranded)));
            ASSERT_TRUE(wait_until_blocked(1, "sync.Mutex.Lock", &mu));
            ASSERT_TRUE(wait_until_blocked(1, "sync.WaitGroup.Wait", &wg));
            ASSERT_TRUE(wait_until_blocked(1, "select"));
            main_returned = steady::now();
        });
        EXPECT_LT(since(main_returned), generous) << "run waited for goroutines still blocked";
        EXPECT_EQ(csp::goroutines_waiting("chan receive", object_of(stranded)), 1u);

        // A second run: new goroutines work, and the old ones still can be woken.
        int echoed = 0;
        csp::run([&] {
            chan<int> ping, pong;
            csp::go([=] {
                for (int v : ping) pong.send(v + 1);
            });
            for (int i = 0; i < 100; ++i) {
                ping.send(i);
                echoed += *pong.recv() == i + 1;
            }
            ping.close();
            stranded.send(5);  // the stranded receiver takes it
            wg.done();
            mu.unlock();  // handed to the stranded locker
        });
        EXPECT_EQ(echoed, 100);
        EXPECT_TRUE(yield_until([&] {
            return csp::goroutines_waiting("chan receive", object_of(stranded)) +
                       csp::goroutines_waiting("sync.Mutex.Lock", &mu) +
                       csp::goroutines_waiting("sync.WaitGroup.Wait", &wg) ==
                   0;
        })) << csp::goroutine_dump();
    });
}

}  // namespace
