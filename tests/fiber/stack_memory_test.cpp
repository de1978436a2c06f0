// Many goroutines, as a Go program starts them: a million parked at once
// must work on any kernel (Debian 12's 6.1 has no MADV_GUARD_INSTALL, so
// guard pages cost mappings, and vm.max_map_count is 65530), and the memory
// their stacks took comes back once they are gone. Each case in a child
// process: the guard kind (CSP_STACK_GUARD) is read when the runtime starts,
// and resident memory is measured from a fresh start.
#include "harness/harness.hpp"
#include "harness/stress.hpp"

#include <fiber/debug.hpp>
#include <fiber/memory.hpp>
#include <fiber/internal/stack_reserve.hpp>
#include <fiber/wait_group.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

namespace {

using namespace csp_test;
using csp::chan;

// The plain build parks a million in its CSP_PROCS=1 registration (22 s in
// CI) and a quarter million in the others: still 15 times the mprotect
// budget, and how many scheduler threads park them changes nothing of the
// stacks. The sanitizer builds check the mechanics with far fewer.
#if defined(__SANITIZE_THREAD__)
long goroutines() { return 1'500; }  // ThreadSanitizer counts each as a thread, at most 8128; the
                                      // canary stacks beyond the budget are tested in stack_test.cpp
                                      // (6,000 took 30 s per registration in CI)
constexpr bool measure_memory = false;
#elif defined(CSP_TEST_SANITIZED)
long goroutines() { return 40'000; }  // still beyond the mprotect budget (~16,000 stacks)
constexpr bool measure_memory = false;  // shadow memory and quarantines: VmRSS says little
#else
long goroutines() { return expected_procs() == 1 ? 1'000'000 : 250'000; }
constexpr bool measure_memory = true;
#endif

long mappings() {
    std::ifstream maps("/proc/self/maps");
    long n = 0;
    for (std::string line; std::getline(maps, line);) ++n;
    return n;
}

// `n` goroutines, all alive at once (none can finish before the release),
// then released; returns once every one of them is gone.
void park_and_release(long n) {
    csp::run([n] {
        chan<int> release;
        csp::wait_group started, finished;
        started.add(static_cast<int>(n));
        finished.add(static_cast<int>(n));
        for (long i = 0; i < n; ++i) {
            csp::go([&, release] {
                started.done();
                EXPECT_EQ(release.recv(), std::nullopt);
                finished.done();
            });
        }
        started.wait();
        const long maps = mappings();
        std::fprintf(stderr, "%ld goroutines parked: %ld mappings\n", n, maps);
#if !defined(__SANITIZE_THREAD__)  // ThreadSanitizer maps a few areas of its own per goroutine
        EXPECT_LT(maps, 65530 / 2 + 1000) << "the stacks took more than half of a stock vm.max_map_count";
#endif
        release.close();
        finished.wait();
    });
    EXPECT_TRUE(yield_until([] { return csp::goroutine_states().empty(); }, patience))
        << csp::goroutine_states().size() << " goroutines still alive";
}

// Parks and releases `n` goroutines and checks resident memory before,
// after (given back by the pools on their own) and after
// csp::free_os_memory(). On their own: the goroutine pool keeps up to
// 65,536 ended goroutines (each with its stack's touched page) and ends
// what nobody reused every 50 ms, 16,384 at a time; the stack pool gives
// back the pages past its limit. Polled, within `patience`.
void parked_released_and_memory_back(long n) {
    exit_after(std::chrono::minutes(4), 124, "child still running after 4 minutes: a hang\n");
    park_and_release(1000);  // the runtime and the harness settle first
    csp::free_os_memory();
    const long start = resident_kib();
    park_and_release(n);
    const long ended = resident_kib();
    const auto t0 = std::chrono::steady_clock::now();
    long after = ended;
    while (measure_memory && after - start >= 128 * 1024 && std::chrono::steady_clock::now() - t0 < patience) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polls the pools' work, bounded
        after = resident_kib();
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    // A burst within the goroutine pool's bound: it all stays for the next
    // one, then goes; free_os_memory ends it at once.
    park_and_release(std::min(n, 20'000L));
    const long pooled = resident_kib();
    csp::free_os_memory();
    const long freed = resident_kib();
    std::fprintf(stderr,
                 "%ld goroutines: resident %ld KiB at the start, %ld when they had ended, %ld %.0f ms later; "
                 "%ld after 20,000 more, %ld after free_os_memory\n",
                 n, start, ended, after, ms, pooled, freed);
    if (measure_memory) {
        // Before the pool gave pages back: +7.8 GiB for a million.
        EXPECT_LT(after - start, 128 * 1024) << "the pools kept the stacks' pages";
        EXPECT_LT(freed - start, 48 * 1024) << "free_os_memory kept pages";
    }
}

TEST(StackMemoryDeathTest, GoroutinesFarBeyondTheMappingBudgetWithGuardPagesByMprotectAndMemoryComesBack) {
    expect_clean_exit_in_child([] {
        ::setenv("CSP_STACK_GUARD", "mprotect", 1);  // Debian 12's kernel: no MADV_GUARD_INSTALL
        parked_released_and_memory_back(goroutines());
    });
}

TEST(StackMemoryDeathTest, ManyGoroutinesWithTheDefaultGuardsAndMemoryComesBack) {
    expect_clean_exit_in_child([] { parked_released_and_memory_back(goroutines() / 5); });
}

// Parks goroutines until one started on a stack of a ready slab (at most
// `limit`), runs `check` while they are parked, then releases them
// and waits until they are gone.
template <class F>
void park_until_a_ready_slab_is_taken(long limit, F check) {
    using csp::detail::stack_reserve_now;
    const std::size_t taken = stack_reserve_now().slabs_taken;
    chan<int> release;
    csp::wait_group finished;
    long n = 0;
    while (n < limit && stack_reserve_now().slabs_taken == taken) {
        finished.add(1);
        csp::go([&, release] {
            EXPECT_EQ(release.recv(), std::nullopt);
            finished.done();
        });
        ++n;
        // The refiller, asked, gets to make a slab (on a busy machine the
        // spawner alone could map them all).
        const auto v = stack_reserve_now();
        if (v.asked && v.ready_stacks == 0 && v.slabs_taken == taken)
            yield_until([] { return stack_reserve_now().ready_stacks > 0; }, patience);
    }
    EXPECT_GT(stack_reserve_now().slabs_taken, taken) << n << " goroutines started, none on a ready stack";
    check();
    release.close();
    finished.wait();
}

// A growing process gets a reserve of ready stacks from a thread of the
// pool's: filled up to its bound and no further, emptied by
// csp::free_os_memory(), and filled again only once spawning asks again.
TEST(StackMemoryDeathTest, TheReserveStaysWithinItsBoundAndFreeOsMemoryEmptiesIt) {
    expect_clean_exit_in_child([] {
        using csp::detail::stack_reserve_now;
        auto refiller_asleep = [] { return stack_reserve_now().refiller_asleep; };
        csp::run([&] {
            EXPECT_FALSE(stack_reserve_now().started) << "a reserve before the process grew";
            park_until_a_ready_slab_is_taken(goroutines(), [&] {
                // Asleep while a spawner still wants it: the reserve is more
                // than half full (it is woken at half), and never beyond.
                ASSERT_TRUE(yield_until(refiller_asleep, patience)) << "the refiller never rests";
                const auto full = stack_reserve_now();
                EXPECT_GT(full.ready_stacks, full.bound_stacks / 2) << "asleep with the reserve wanted and low";
                EXPECT_LE(full.ready_stacks, full.bound_stacks);
                csp::free_os_memory();
                EXPECT_EQ(stack_reserve_now().ready_stacks, 0u) << "free_os_memory kept the reserve";
            });
            ASSERT_TRUE(yield_until(refiller_asleep, patience));
            EXPECT_EQ(stack_reserve_now().ready_stacks, 0u) << "refilled while nobody asked";
            // The stacks freed meanwhile serve first; then fresh ones are asked for.
            park_until_a_ready_slab_is_taken(goroutines(), [&] {
                ASSERT_TRUE(yield_until(refiller_asleep, patience));
                const auto again = stack_reserve_now();
                EXPECT_GT(again.ready_stacks, again.bound_stacks / 2);
                EXPECT_LE(again.ready_stacks, again.bound_stacks);
            });
        });
    });
}

// Any number of distinct stack sizes (each got a size class of its own, and
// the 33rd threw bad_alloc).
TEST(StackMemoryDeathTest, ManyDistinctStackSizesWork) {
    expect_clean_exit_in_child([] {
        csp::run([] {
            chan<std::size_t> done;
            for (std::size_t k = 1; k <= 200; ++k) {
                const std::size_t size = 64 * 1024 + k * 4096 * 7 + k % 3;
                csp::go(csp::stack_size{size}, [done, size] {
                    volatile char deep[32 * 1024];  // uses half the smallest of them
                    deep[0] = 1;
                    done.send(size + deep[0] - 1);
                });
                EXPECT_EQ(done.recv(), size);
            }
        });
    });
}

}  // namespace
