// The pool of ended goroutines' fibers (fiber/goroutine_pool.cpp): a go()
// may run its body on a fiber an ended goroutine left, and must then look in
// every way like a new goroutine. White-box: it reads the runtime's record
// of the running goroutine to know a fiber was reused.
#include "harness/harness.hpp"

#include <array>
#include <atomic>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <fiber/debug.hpp>
#include <fiber/detail/goroutine_local.hpp>
#include <fiber/internal/goroutine.hpp>
#include <fiber/internal/goroutine_pool.hpp>
#include <fiber/internal/runtime.hpp>
#include <fiber/internal/sched.hpp>
#include <fiber/memory.hpp>
#include <fiber/wait_group.hpp>

namespace {

using namespace csp_test;
using csp::chan;

// More than a thread keeps (256): some go to the shared list, where a plain
// thread's go() finds them too.
constexpr int round_size = 1000;

const csp::detail::goroutine& me() { return *csp::detail::current_goroutine().g; }

std::uint64_t my_id() {
    for (const csp::goroutine_state& s : csp::goroutine_states())
        if (s.wait_reason == std::string("running") && s.id != 0) return s.id;
    return 0;
}

class GoroutinePool : public SettingTest {};
CSP_INSTANTIATE_SETTINGS(GoroutinePool);

// Round one leaves its mark in each goroutine's slot and ends; round two
// must find clean slots, new ids, and (so that this tests anything) fibers
// that ran a goroutine before.
TEST_P(GoroutinePool, AReusedFiberStartsWithACleanSlateAndANewId) {
    run([&] {
        static int mark;
        std::mutex mu;
        std::set<std::uint64_t> ids;
        std::atomic<int> dirty{0}, reused{0};
        for (int round = 0; round < 2; ++round) {
            csp::wait_group wg;
            wg.add(round_size);
            for (int i = 0; i < round_size; ++i) {
                csp::go([&, i] {
                    if (csp::detail::goroutine_local() != nullptr) dirty++;
                    if (me().reuses > 0) reused++;
                    csp::detail::goroutine_local() = &mark;
                    if (i % 50 == 0) {  // a dump per goroutine would take a while
                        std::lock_guard lk(mu);
                        EXPECT_TRUE(ids.insert(my_id()).second) << "an id given twice";
                    }
                    wg.done();
                });
            }
            wg.wait();
        }
        EXPECT_EQ(dirty.load(), 0) << "a goroutine found its predecessor's goroutine_local";
        EXPECT_GT(reused.load(), 0) << "no fiber was reused: this test tests nothing";
        EXPECT_EQ(ids.size(), 2u * (round_size / 50));
    });
}

TEST_P(GoroutinePool, EndedGoroutinesLeaveTheDumpAndReusedOnesShowTheirOwnFunction) {
    run([&] {
        const std::size_t before = csp::goroutine_states().size();
        {
            csp::wait_group wg;
            wg.add(round_size);
            for (int i = 0; i < round_size; ++i) csp::go([&] { wg.done(); });
            wg.wait();
        }
        // Each ended once it called done(); give the last ones time to end.
        EXPECT_TRUE(yield_until([&] { return csp::goroutine_states().size() <= before; }, patience))
            << csp::goroutine_states().size() << " goroutines listed, " << before << " before";
        chan<int> hold;
        csp::wait_group started, finished;
        started.add(3);
        finished.add(3);
        std::atomic<int> reused{0};
        // `hold` by value: the last goroutine may still be in recv() on the
        // closed channel when this scope ends, but not past finished.done().
        auto parked = [&, hold] {
            if (me().reuses > 0) reused++;
            started.done();
            hold.recv();
            finished.done();
        };
        for (int i = 0; i < 3; ++i) csp::go(parked);
        started.wait();
        EXPECT_TRUE(yield_until([&] { return csp::goroutines_waiting("chan receive", object_of(hold)) == 3; }, patience));
        // Ended goroutines are gone from the dump; main is named once (an
        // earlier run's main may still be on its way out: wait for it).
        const int want_mains = mode() == setting::threads ? 0 : 1;
        auto as_expected = [&] {
            int mains = 0, others = 0;
            for (const auto& s : csp::goroutine_states()) {
                if (s.entry.rfind("main", 0) == 0) ++mains;
                else if (s.object == object_of(hold)) ++others;
            }
            return mains == want_mains && others == 3;
        };
        EXPECT_TRUE(yield_until(as_expected, patience)) << csp::goroutine_dump();
        hold.close();
        finished.wait();
    });
}

// A body larger than the pooled fibers' body area, or a stack of its own
// size, gets a fiber of its own; both kinds run side by side.
TEST_P(GoroutinePool, BigBodiesAndOwnStackSizesRunBesideReusedFibers) {
    run([&] {
        chan<int> out(64);
        std::array<int, 64> big{};  // 256 bytes: more than the body area
        for (int k = 0; k < 64; ++k) big[k] = k;
        for (int round = 0; round < 3; ++round) {
            for (int i = 0; i < 20; ++i) {
                csp::go([out, big] {
                    int sum = 0;
                    for (int v : big) sum += v;
                    out.send(sum);
                });
                csp::go([out] { out.send(2016); });
                csp::go(csp::stack_size{256 * 1024}, [out] { out.send(2016); });
            }
            for (int i = 0; i < 60; ++i) EXPECT_EQ(out.recv_for(patience).value, 2016);
        }
    });
}

// csp::run's main ends; its fiber may start the next run's goroutines,
// which a dump must not call main.
TEST(GoroutinePoolMain, AFiberThatRanMainIsNotMainWhenReused) {
    csp::run([] {});
    csp::run([] {
        chan<int> hold;
        csp::wait_group started, finished;
        started.add(8);
        finished.add(8);
        std::atomic<int> reused{0};
        for (int i = 0; i < 8; ++i) {
            csp::go([&, hold] {  // by value: see above
                if (me().reuses > 0) reused++;
                started.done();
                hold.recv();
                finished.done();
            });
        }
        started.wait();
        // The first main may still be on its way out (it woke csp::run's
        // caller before it ended): wait for it, not for a reused fiber.
        auto mains = [] {
            int n = 0;
            for (const auto& s : csp::goroutine_states()) n += s.entry.rfind("main", 0) == 0;
            return n;
        };
        EXPECT_TRUE(yield_until([&] { return mains() == 1; }, patience)) << csp::goroutine_dump();
        if (csp::procs() == 1) EXPECT_GT(reused.load(), 0) << "the first main's fiber was not reused";
        hold.close();
        finished.wait();
    });
}

struct throws_when_copied {
    throws_when_copied() = default;
    throws_when_copied(const throws_when_copied&) { throw std::runtime_error("copy"); }
};

// go() throws when the body cannot be built; a pooled fiber it took goes
// back, and later goroutines run on it.
TEST_P(GoroutinePool, ABodyThatThrowsWhileBuiltLosesNoFiber) {
    run([&] {
        std::atomic<int> ran{0};
        for (int round = 0; round < 3; ++round) {
            csp::wait_group wg;
            wg.add(100);
            for (int i = 0; i < 100; ++i) csp::go([&] { ran++; wg.done(); });
            wg.wait();
            const throws_when_copied bad;
            EXPECT_THROW(csp::go([](const throws_when_copied&) { ADD_FAILURE() << "ran"; }, bad), std::runtime_error);
        }
        EXPECT_EQ(ran.load(), 300);
    });
}

// Spawners on several goroutines and threads at once, goroutines ending on
// any scheduler thread: every body runs exactly once.
TEST_P(GoroutinePool, ManySpawnersEveryBodyRunsOnce) {
    run([&] {
        constexpr int spawners = 4, rounds = 5, per_round = 600;
        std::vector<std::atomic<int>> runs(spawners * rounds * per_round);
        task_group g(mode());
        for (int s = 0; s < spawners; ++s) {
            g.go([&, s] {
                for (int r = 0; r < rounds; ++r) {
                    csp::wait_group wg;
                    wg.add(per_round);
                    for (int i = 0; i < per_round; ++i) {
                        csp::go([&runs, &wg, k = (s * rounds + r) * per_round + i] {
                            runs[k]++;
                            wg.done();
                        });
                    }
                    wg.wait();
                }
            });
        }
        g.wait();
        int wrong = 0;
        for (auto& r : runs) wrong += r.load() != 1;
        EXPECT_EQ(wrong, 0) << "bodies that ran not exactly once";
    });
}

// `n` goroutines alive at once (none ends before all have started), then
// released; each body counted. Returns once all have called done().
void burst(int n, std::vector<std::atomic<int>>& runs) {
    chan<int> release;
    csp::wait_group started, finished;
    started.add(n);
    finished.add(n);
    for (int i = 0; i < n; ++i) {
        csp::go([&, release, i] {
            runs[i]++;
            started.done();
            release.recv_or_zero();
            finished.done();
        });
    }
    started.wait();
    release.close();
    finished.wait();
}

// Goroutines in the registry, pooled ones included.
std::size_t registered() { return csp::detail::goroutine::count(); }

// Goroutines alive (the dump's list: pooled ones are not).
std::size_t alive() { return csp::goroutine_states().size(); }

// Registered goroutines with `live` alive and the pool at rest: room for
// its shared list (1,024), the threads' own lists (256 each) and fibers
// that ended but that Boost has not freed yet (a batch of 32 per thread):
// well below a burst. The threads: every scheduler thread the runtime has
// started, stand-ins included (under ThreadSanitizer at one thread the
// monitor may start all four), and two plain ones.
std::size_t scheduler_threads() { return csp::detail::runtime::get().size(); }
std::size_t at_rest(std::size_t live) { return live + 1024 + 320 * (scheduler_threads() + 2); }

#if defined(__SANITIZE_THREAD__)
constexpr int burst_size = 4'000;  // ThreadSanitizer counts each fiber as a thread, at most 8,128
#else
constexpr int burst_size = 10'000;
#endif

// A burst leaves its goroutines in the pool (up to 65,536) for the next one;
// what nobody reuses ends on its own (the monitor's trim, every 50 ms), and
// later bursts still run every body exactly once, reused fiber or new.
TEST_P(GoroutinePool, ABurstsLeftoversEndOnTheirOwnAndLaterBurstsRunEveryBodyOnce) {
    run([&] {
        const std::size_t before = alive();
        for (int round = 0; round < 3; ++round) {
            std::vector<std::atomic<int>> runs(burst_size);
            burst(burst_size, runs);
            int wrong = 0;
            for (auto& r : runs) wrong += r.load() != 1;
            EXPECT_EQ(wrong, 0) << "round " << round << ": bodies that ran not exactly once";
            EXPECT_TRUE(yield_until([&] { return registered() <= at_rest(before); }, patience))
                << "round " << round << ": " << registered() << " goroutines registered (pooled included), "
                << before << " alive before the bursts";
        }
    });
}

// csp::free_os_memory() ends the pool's surplus at once: it returns when
// those goroutines have ended.
TEST_P(GoroutinePool, FreeOsMemoryEndsThePoolsSurplusBeforeItReturns) {
    run([&] {
        const std::size_t before = alive();
        std::vector<std::atomic<int>> runs(burst_size);
        burst(burst_size, runs);
        csp::free_os_memory();
        // Boost frees an ended fiber (and unregisters it) on its thread's
        // next scheduling round: at_rest leaves room for those.
        EXPECT_LE(registered(), at_rest(before))
            << "alive before the burst: " << before << "; scheduler threads started: "
            << scheduler_threads() << "; pooled goroutines still ending: "
            << csp::detail::idle_goroutines_ending();
        std::vector<std::atomic<int>> again(burst_size);
        burst(burst_size, again);
        int wrong = 0;
        for (auto& r : again) wrong += r.load() != 1;
        EXPECT_EQ(wrong, 0) << "bodies that ran not exactly once";
    });
}

}  // namespace
