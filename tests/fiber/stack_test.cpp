// Goroutine stacks: the default size and CSP_STACK_SIZE, a size per call,
// overflow into the guard page reported, recycled stacks.
#include "harness/harness.hpp"

#include <fiber/internal/stack_reserve.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

using namespace csp_test;
using csp::chan;

// Uses about 200 bytes of stack per level (more under sanitizers). The
// volatile read after the call keeps the compiler from turning the
// recursion into a loop.
int deep(int n) {
    volatile char pad[160];
    pad[0] = 1;
    return n == 0 ? 0 : deep(n - 1) + pad[0];
}

// 5000 levels: ~1 MB, far beyond the 64 KiB default, well within 16 MiB.
constexpr int deep_levels = 5000;
constexpr const char* big_stack = "16777216";

// Goroutines started from a goroutine or from a plain thread.
class Stack : public SettingTest {};
CSP_INSTANTIATE_SETTINGS(Stack);

TEST_P(Stack, CustomStackSizeRunsADeepRecursion) {
    run([&] {
        chan<int> out(1);
        csp::go(csp::stack_size{16u << 20}, [out] { out.send(deep(2 * deep_levels)); });
        EXPECT_EQ(out.recv_for(patience).value, 2 * deep_levels);
    });
}

// Runs deep(deep_levels) on a goroutine with the default stack, started in
// the setting, and exits with 0 if it returned the right value. With guard
// pages a hundred goroutines park first: the recursion runs on a stack in
// the middle of a slab (whose guards went in with the slab's, in one call),
// not its first. (Not with a canary: checked when the goroutine exits, it
// would race with the release of those below, whose stacks it tramples.)
[[noreturn]] void deep_recursion_on_the_default_stack(setting s, int parked_first = 100) {
    bound_child();
    int got = -1;
    run_in(s, [&got, parked_first] {
        chan<int> hold;
        for (int i = 0; i < parked_first; ++i) csp::go([hold] { hold.recv(); });
        chan<int> out(1);
        csp::go([out] { out.send(deep(deep_levels)); });
        got = *out.recv();
        hold.close();
    });
    std::_Exit(got == deep_levels ? 0 : 1);
}

// The default (64 KiB) is too small for deep_levels: the goroutine runs into
// its guard page, and the runtime says so and what to do about it.
TEST_P(Stack, DeepRecursionOnTheDefaultStackIsReportedAsAnOverflow) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            ::unsetenv("CSP_STACK_SIZE");  // the ASan stage of ./dev sets one; the runtime reads it at its start
            deep_recursion_on_the_default_stack(mode());
        },
        "fatal error: stack overflow in a goroutine(.|\n)*CSP_STACK_SIZE");
}

// Guards installed by one madvise() each: the way when process_madvise()
// takes no guard advice (as on Linux 6.1-6.12, where then mprotect's follow).
TEST_P(Stack, DeepRecursionIsReportedWithGuardPagesInstalledOneByOne) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            ::unsetenv("CSP_STACK_SIZE");
            ::setenv("CSP_STACK_GUARD", "madvise", 1);
            deep_recursion_on_the_default_stack(mode());
        },
        "fatal error: stack overflow in a goroutine(.|\n)*CSP_STACK_SIZE");
}

// Without MADV_GUARD_INSTALL (Debian 12's kernel): guard pages by mprotect,
// or, beyond their budget of mappings, a canary page checked when the
// goroutine parks or exits. CSP_STACK_GUARD forces each.
TEST_P(Stack, DeepRecursionIsReportedWithGuardPagesByMprotect) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            ::unsetenv("CSP_STACK_SIZE");
            ::setenv("CSP_STACK_GUARD", "mprotect", 1);
            deep_recursion_on_the_default_stack(mode());
        },
        "fatal error: stack overflow in a goroutine(.|\n)*CSP_STACK_SIZE");
}

TEST_P(Stack, DeepRecursionIsReportedByTheCanaryWithoutAGuardPage) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            ::unsetenv("CSP_STACK_SIZE");
            ::setenv("CSP_STACK_GUARD", "canary", 1);
            deep_recursion_on_the_default_stack(mode(), 0);
        },
        "fatal error: stack overflow in a goroutine(.|\n)*CSP_STACK_SIZE");
}

// An overflow that runs through every stack below it still ends in a
// report: the reservation of canary stacks starts with an inaccessible page.
// (Under AddressSanitizer the run is stopped earlier, and reported by it,
// where it tramples the redzones of a parked goroutine's frames.)
TEST(StackDeathTest, ARunawayRecursionWithoutGuardPagesIsReported) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            ::setenv("CSP_STACK_GUARD", "canary", 1);
            csp::run([] {
                csp::chan<int> out;
                csp::go(csp::stack_size{64 * 1024}, [out] { out.send(deep(1 << 22)); });
                out.recv();
            });
        },
        "stack overflow in a goroutine|AddressSanitizer: stack-buffer-overflow");
}

// The same recursion passes once CSP_STACK_SIZE makes every default stack
// larger (read when the runtime starts, so set before it, in the child).
TEST_P(Stack, CspStackSizeLiftsTheDefault) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            ::setenv("CSP_STACK_SIZE", big_stack, 1);
            deep_recursion_on_the_default_stack(mode());
        },
        ::testing::ExitedWithCode(0), "");
}

// An explicit size smaller than the recursion needs overflows too.
TEST(StackDeathTest, StackOverflowHitsTheGuardPageAndIsReported) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(csp::run([] {
                     csp::chan<int> out;
                     csp::go(csp::stack_size{64 * 1024}, [out] { out.send(deep(1 << 20)); });
                     out.recv();
                 }),
                 "stack overflow in a goroutine");
}

// A frame larger than the guard page (a 100 KB local buffer on a 64 KiB
// stack) must not step over it into the neighbour's stack:
// -fstack-clash-protection (handed to users by the meson dependency and
// the pkg-config file) makes the function touch its frame page by page, so
// it faults in the guard page and is reported.
[[gnu::noinline]] int big_frame(int i) {
    volatile char buffer[100 * 1000];
    buffer[i] = 1;
    buffer[sizeof buffer - 1] = 2;
    return buffer[i] + buffer[sizeof buffer - 1];
}

TEST_P(Stack, AFrameLargerThanTheStackIsReportedAsAnOverflow) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            ::unsetenv("CSP_STACK_SIZE");
            bound_child();
            run_in(mode(), [] {
                chan<int> out(1);
                chan<int> neighbour;  // a parked goroutine on the stack next door
                csp::go([neighbour] { neighbour.recv(); });
                csp::go(csp::stack_size{64 * 1024}, [out] { out.send(big_frame(0)); });
                out.recv();
                std::fputs("the big frame ran without a report\n", stderr);
                std::_Exit(0);
            });
        },
        "fatal error: stack overflow in a goroutine");
}

// A process that keeps starting goroutines gets its fresh stacks from the
// reserve, made ready by another thread: they have guard pages all the
// same, of each kind. Goroutines park until one starts on the first stack of a
// ready slab (the spawner took that slab); it recurses too deep.
[[noreturn]] void overflow_on_a_stack_from_the_reserve(setting s) {
    bound_child();
    run_in(s, [] {
        chan<int> finished(1);
        std::vector<chan<int>> orders;  // one per parked goroutine: 1 sends it down
        for (int i = 0; i < 5'000; ++i) {  // (ThreadSanitizer: at most 8128 goroutines)
            const std::size_t taken = csp::detail::stack_reserve_now().slabs_taken;
            chan<int> order(1);
            csp::go([order, finished] {
                if (order.recv() != 1) return;
                const int depth = deep(deep_levels);
                finished.send(depth);
            });
            orders.push_back(order);
            // The refiller, asked, gets to make a slab (on a busy machine
            // the spawner alone could map them all).
            const auto v = csp::detail::stack_reserve_now();
            if (v.asked && v.ready_stacks == 0 && v.slabs_taken == taken)
                yield_until([] { return csp::detail::stack_reserve_now().ready_stacks > 0; }, patience);
            if (csp::detail::stack_reserve_now().slabs_taken != taken) {
                order.send(1);
                finished.recv();
                std::fputs("the recursion ran without a report\n", stderr);
                std::_Exit(0);
            }
        }
        std::fputs("no stack came from the reserve\n", stderr);
        std::_Exit(3);
    });
    std::_Exit(4);
}

TEST_P(Stack, DeepRecursionOnAStackFromTheReserveHitsItsGuardInEachMode) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    for (const char* guard : {"", "madvise", "mprotect"}) {  // (a canary lets it trample the parked ones)
        SCOPED_TRACE(std::string("CSP_STACK_GUARD=") + guard);
        EXPECT_DEATH(
            {
                ::unsetenv("CSP_STACK_SIZE");
                ::setenv("CSP_STACK_GUARD", guard, 1);
                overflow_on_a_stack_from_the_reserve(mode());
            },
            "fatal error: stack overflow in a goroutine(.|\n)*CSP_STACK_SIZE");
    }
}

// Starts a goroutine whose closure holds N bytes and waits for it to end.
template <std::size_t N>
void run_one_of_size(const chan<int>& done) {
    std::array<char, N> pad{};
    pad[N - 1] = static_cast<char>(N % 128);
    csp::go([pad, done] { done.send(pad[N - 1]); });
    ASSERT_EQ(done.recv(), static_cast<int>(N % 128));
}

// Goroutine stacks are recycled: a new goroutine must not trip over what a
// finished one left on its stack (under AddressSanitizer: the poisoned
// redzones of the frames it never returned from). In a child process, so
// that a sanitizer abort fails this test alone.
TEST(StackDeathTest, RecycledStacksStartClean) {
    expect_clean_exit_in_child([] {
        csp::run([] {
            chan<int> done;
            for (int i = 0; i < 100; ++i) {
                run_one_of_size<8>(done);
                run_one_of_size<100>(done);
                run_one_of_size<300>(done);
                run_one_of_size<1000>(done);
            }
        });
    });
}


}  // namespace
