// csp::run and csp::go through their light headers: run takes any callable
// (move-only ones, ones that cannot move at all, a function's name) and
// rethrows what it threw; go moves its arguments into the goroutine, names
// the function in goroutine dumps, and fails cleanly when it cannot start.
// Each binary runs with CSP_PROCS=1 and 2; go is called from plain threads
// and from goroutines.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include <chan/chan.hpp>
#include <fiber/debug.hpp>
#include <fiber/go.hpp>
#include <fiber/wait_group.hpp>

namespace {

TEST(Run, TakesAMoveOnlyLambdaAndRunsItAsAGoroutine) {
    auto value = std::make_unique<int>(41);
    int got = 0;
    csp::run([value = std::move(value), &got]() mutable {
        // A goroutine: it can wait on another goroutine through a channel.
        csp::chan<int> ch;
        csp::go([ch, v = std::move(value)] { ch.send(*v + 1); });
        got = *ch.recv();
    });
    EXPECT_EQ(got, 42);
}

TEST(Run, CallsAnObjectThatCannotMoveInPlace) {
    struct pinned {
        int calls = 0;
        pinned() = default;
        pinned(const pinned&) = delete;
        pinned& operator=(const pinned&) = delete;
        void operator()() { ++calls; }
    } main;
    csp::run(main);
    EXPECT_EQ(main.calls, 1);
}

std::atomic<int> function_runs{0};
void count_run() { function_runs.fetch_add(1); }

TEST(Run, TakesAFunctionsName) {
    const int before = function_runs.load();
    csp::run(count_run);
    csp::run(&count_run);
    EXPECT_EQ(function_runs.load(), before + 2);
}

TEST(Run, RethrowsWhatMainThrew) {
    try {
        csp::run([] { throw std::runtime_error("boom from main"); });
        FAIL() << "run returned normally";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "boom from main");
    }
}

/// Counts destructions of the armed (not moved-from) instances.
struct tracked {
    std::atomic<int>* destroyed;
    bool armed = true;
    explicit tracked(std::atomic<int>* d) : destroyed(d) {}
    tracked(tracked&& o) noexcept : destroyed(o.destroyed), armed(std::exchange(o.armed, false)) {}
    tracked(const tracked&) = delete;
    ~tracked() {
        if (armed) destroyed->fetch_add(1);
    }
};

TEST(Run, RethrowsFromAMoveOnlyLambdaAndDestroysItOnce) {
    std::atomic<int> destroyed{0};
    {
        auto main = [t = tracked(&destroyed), p = std::make_unique<int>(1)] {
            if (*p == 1) throw std::logic_error("move-only main failed");
        };
        EXPECT_THROW(csp::run(std::move(main)), std::logic_error);
        // Called in place: still alive until `main` goes out of scope.
        EXPECT_EQ(destroyed.load(), 0);
    }
    EXPECT_EQ(destroyed.load(), 1);
}

TEST(Run, FromAGoroutineCallsMainDirectly) {
    csp::run([] {
        auto p = std::make_unique<int>(5);
        int got = 0;
        csp::run([p = std::move(p), &got] { got = *p; });
        EXPECT_EQ(got, 5);
        EXPECT_THROW(csp::run([] { throw std::out_of_range("nested"); }), std::out_of_range);
    });
}

/// Starts a goroutine that sends `*p` on `out`, with move-only arguments.
void go_move_only(csp::chan<int> out, int v) {
    csp::go([](std::unique_ptr<int> p, csp::chan<int> c) { c.send(*p); }, std::make_unique<int>(v), out);
}

TEST(Go, MovesMoveOnlyArgumentsFromAThreadAndFromAGoroutine) {
    csp::chan<int> out(2);
    go_move_only(out, 1);  // from this plain thread
    int sum = 0;
    csp::run([out, &sum] {
        go_move_only(out, 2);  // from a goroutine
        sum = *out.recv() + *out.recv();
    });
    EXPECT_EQ(sum, 3);
}

/// Sends 1 on `ch` (buffered) when the armed (not moved-from) instance dies.
struct signals_on_destroy {
    csp::chan<int> ch;
    bool armed = true;
    explicit signals_on_destroy(csp::chan<int> c) : ch(std::move(c)) {}
    signals_on_destroy(signals_on_destroy&& o) noexcept : ch(o.ch), armed(std::exchange(o.armed, false)) {}
    ~signals_on_destroy() {
        if (armed) ch.send(1);  // buffered: never blocks here
    }
};

TEST(Go, DestroysTheFunctionWhenTheGoroutineEnds) {
    // A capture never destroyed leaves recv() blocked with nothing else to
    // run: the deadlock detector ends the test, it does not hang.
    csp::chan<int> destroyed(4);
    csp::go([s = signals_on_destroy(destroyed)] {});  // from this plain thread
    csp::run([destroyed] {
        csp::go([s = signals_on_destroy(destroyed)] {});  // from a goroutine
        EXPECT_EQ(destroyed.recv(), 1);
        EXPECT_EQ(destroyed.recv(), 1);
        EXPECT_EQ(destroyed.len(), 0u);  // once each: no moved-from copy signals
    });
}

struct headers_probe_entry {
    csp::chan<int> block;
    void operator()() const { block.recv(); }
};

TEST(Go, GoroutineDumpNamesTheFunction) {
    csp::chan<int> block;
    csp::go(headers_probe_entry{block});
    const std::string dump = csp::goroutine_dump();
    block.close();
    EXPECT_NE(dump.find("headers_probe_entry"), std::string::npos) << dump;
}

std::size_t dump_lines() {
    const std::string d = csp::goroutine_dump();
    std::size_t n = 0;
    for (char c : d) n += c == '\n';
    return n;
}

struct throws_on_copy {
    throws_on_copy() = default;
    throws_on_copy(const throws_on_copy&) { throw std::runtime_error("copy failed"); }
};

TEST(Go, AnArgumentThatThrowsWhileCopiedStartsNothing) {
    csp::run([] {
        const std::size_t before = dump_lines();
        throws_on_copy arg;
        for (int i = 0; i < 1000; ++i)
            EXPECT_THROW(csp::go([](const throws_on_copy&) {}, arg), std::runtime_error);
        // No goroutine record left behind (1000 would be). At most as many as
        // before: goroutines of earlier tests in this binary may still be on
        // their way out.
        EXPECT_LE(dump_lines(), before);
        // The stacks went back to the pool: the runtime still starts goroutines.
        csp::chan<int> ch;
        csp::go([ch] { ch.send(7); });
        EXPECT_EQ(*ch.recv(), 7);
    });
}

TEST(Go, AFunctionTooLargeForItsStackIsRefused) {
    csp::run([] {
        std::array<char, 12 * 1024> big{};
        big[0] = 1;
        EXPECT_THROW(csp::go(csp::stack_size{16 * 1024}, [big] { (void)big; }), std::length_error);
        // With room to spare it runs, the copy intact.
        csp::chan<int> ch;
        csp::go(csp::stack_size{256 * 1024}, [big, ch] { ch.send(big[0]); });
        EXPECT_EQ(*ch.recv(), 1);
    });
}

}  // namespace
