// csp::context: cancellation and deadlines flowing from parents to children.
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include <chan/context.hpp>

#include "harness/harness.hpp"
#include "harness/stress.hpp"  // CSP_TEST_SANITIZED (without it, 100,000 ran under TSan too)

namespace csp_test {
namespace {

using csp::context_error;

/// Whether ctx.done() is closed right now (a receive would not block).
bool is_done(const csp::context& ctx) { return ctx.done().try_recv().status == csp::chan_status::closed; }

/// ctx is done, for `why`.
testing::AssertionResult done_because(const csp::context& ctx, context_error why) {
    if (!is_done(ctx)) return testing::AssertionFailure() << "done() not closed";
    if (ctx.err() != why) return testing::AssertionFailure() << "err() is " << csp::to_string(ctx.err());
    return testing::AssertionSuccess();
}

/// ctx is not done.
testing::AssertionResult live(const csp::context& ctx) {
    if (ctx.done().try_recv().status != csp::chan_status::would_block)
        return testing::AssertionFailure() << "done() is ready";
    if (ctx.err() != context_error::none)
        return testing::AssertionFailure() << "err() is " << csp::to_string(ctx.err());
    return testing::AssertionSuccess();
}

class Context : public SettingTest {};

TEST_P(Context, BackgroundIsNeverDone) {
    run([] {
        const csp::context bg = csp::background();
        EXPECT_TRUE(bg.done().is_nil());
        EXPECT_EQ(bg.err(), context_error::none);
        EXPECT_FALSE(bg.deadline().has_value());
        // The nil channel: select never picks it.
        EXPECT_EQ(csp::select(csp::case_recv(bg.done()), csp::case_default()), 1);
        EXPECT_EQ(csp::select_until(steady::now() + 5ms, csp::case_recv(bg.done())), std::nullopt);
        EXPECT_EQ(csp::context().err(), context_error::none);
    });
}

TEST_P(Context, CancelClosesDoneOnceAndForAll) {
    run([] {
        auto [ctx, cancel] = csp::with_cancel(csp::background());
        EXPECT_TRUE(live(ctx));
        EXPECT_FALSE(ctx.deadline().has_value());
        cancel();
        EXPECT_TRUE(done_because(ctx, context_error::canceled));
        EXPECT_FALSE(ctx.done().recv().has_value());
        cancel();  // harmless
        EXPECT_TRUE(done_because(ctx, context_error::canceled));
    });
}

TEST_P(Context, ParentCancelReachesEveryDescendantOnly) {
    run([] {
        auto [root, cancel_root] = csp::with_cancel(csp::background());
        auto [child, cancel_child] = csp::with_cancel(root);
        auto [grandchild, cancel_grandchild] = csp::with_timeout(child, 1h);
        auto [great, cancel_great] = csp::with_cancel(grandchild);
        auto [other_root, cancel_other] = csp::with_cancel(csp::background());
        cancel_root();
        for (const auto* c : {&root, &child, &grandchild, &great})
            EXPECT_TRUE(done_because(*c, context_error::canceled));
        EXPECT_TRUE(live(other_root));
        // Cancelling the descendants afterwards changes nothing.
        cancel_great();
        cancel_grandchild();
        cancel_child();
        EXPECT_TRUE(done_because(great, context_error::canceled));
        cancel_other();
    });
}

TEST_P(Context, ChildCancelDoesNotReachParentOrSiblings) {
    run([] {
        auto [parent, cancel_parent] = csp::with_cancel(csp::background());
        auto [a, cancel_a] = csp::with_cancel(parent);
        auto [b, cancel_b] = csp::with_cancel(parent);
        auto [a_kid, cancel_a_kid] = csp::with_cancel(a);
        cancel_a();
        EXPECT_TRUE(done_because(a, context_error::canceled));
        EXPECT_TRUE(done_because(a_kid, context_error::canceled));
        EXPECT_TRUE(live(parent));
        EXPECT_TRUE(live(b));
        cancel_parent();
        EXPECT_TRUE(done_because(b, context_error::canceled));
    });
}

TEST_P(Context, TimeoutFiresDeadlineExceededNoEarlier) {
    run([] {
        const auto t0 = steady::now();
        auto [ctx, cancel] = csp::with_timeout(csp::background(), 20ms);
        auto [kid, cancel_kid] = csp::with_cancel(ctx);
        ASSERT_TRUE(ctx.deadline().has_value());
        EXPECT_GE(*ctx.deadline(), t0 + 20ms);
        EXPECT_EQ(ctx.done().recv_for(generous).status, csp::chan_status::closed);
        EXPECT_TRUE(on_time(steady::now(), t0 + 20ms));
        EXPECT_TRUE(done_because(ctx, context_error::deadline_exceeded));
        EXPECT_TRUE(done_because(kid, context_error::deadline_exceeded));
        cancel();  // too late: the reason stays
        EXPECT_TRUE(done_because(ctx, context_error::deadline_exceeded));
    });
}

// Whoever sees a context done sees all its descendants done: the cancel
// runs in a goroutine (on the other scheduler thread in the _p2 runs) while
// this goroutine or thread waits on the parent's done channel.
TEST_P(Context, DescendantsAreDoneBeforeTheParentIsSeenDone) {
    run([] {
        for (int i = 0; i < 300; ++i) {
            auto [ctx, cancel] = csp::with_cancel(csp::background());
            auto [kid, cancel_kid] = csp::with_cancel(ctx);
            auto [grandkid, cancel_grandkid] = csp::with_cancel(kid);
            csp::go([cancel = cancel] { cancel(); });
            ASSERT_EQ(ctx.done().recv_for(generous).status, csp::chan_status::closed);
            ASSERT_TRUE(done_because(kid, context_error::canceled)) << "round " << i;
            ASSERT_TRUE(done_because(grandkid, context_error::canceled)) << "round " << i;
        }
    });
}

TEST_P(Context, WithDeadlineInThePastIsDoneAtOnce) {
    run([] {
        auto [ctx, cancel] = csp::with_deadline(csp::background(), steady::now() - 1s);
        EXPECT_EQ(ctx.done().recv_for(generous).status, csp::chan_status::closed);
        EXPECT_EQ(ctx.err(), context_error::deadline_exceeded);
        cancel();
    });
}

TEST_P(Context, ChildDeadlineNeverLaterThanParents) {
    run([] {
        const auto d = steady::now() + 1h;
        auto [parent, cancel_parent] = csp::with_deadline(csp::background(), d);
        EXPECT_EQ(parent.deadline(), d);
        auto [later, c1] = csp::with_deadline(parent, d + 1h);
        EXPECT_EQ(later.deadline(), d);
        auto [inherits, c2] = csp::with_cancel(parent);
        EXPECT_EQ(inherits.deadline(), d);
        auto [grandchild, c3] = csp::with_timeout(inherits, 2h);
        EXPECT_EQ(grandchild.deadline(), d);
        auto [sooner, c4] = csp::with_deadline(parent, d - 30min);
        EXPECT_EQ(sooner.deadline(), d - 30min);
        c4();
        EXPECT_TRUE(live(parent));  // the sooner child's end is its own
        cancel_parent();
        EXPECT_TRUE(done_because(grandchild, context_error::canceled));
    });
}

// A parent's deadline reaches its children even after the parent's own
// handles are gone.
TEST_P(Context, ParentTimeoutReachesChildrenAfterParentHandlesAreDropped) {
    run([] {
        const auto t0 = steady::now();
        csp::context kid;
        csp::cancel_func cancel_kid;
        {
            auto [parent, cancel_parent] = csp::with_timeout(csp::background(), 10ms);
            std::tie(kid, cancel_kid) = csp::with_cancel(parent);
        }
        EXPECT_EQ(kid.done().recv_for(generous).status, csp::chan_status::closed);
        EXPECT_TRUE(on_time(steady::now(), t0 + 10ms));
        EXPECT_EQ(kid.err(), context_error::deadline_exceeded);
        cancel_kid();
    });
}

TEST_P(Context, ChildOfADoneParentIsDoneImmediately) {
    run([] {
        auto [parent, cancel_parent] = csp::with_cancel(csp::background());
        cancel_parent();
        auto [kid, cancel_kid] = csp::with_cancel(parent);
        EXPECT_TRUE(done_because(kid, context_error::canceled));
        auto [timed_kid, cancel_timed] = csp::with_timeout(parent, 1h);
        EXPECT_TRUE(done_because(timed_kid, context_error::canceled));
        auto [grandkid, cancel_grand] = csp::with_cancel(kid);
        EXPECT_TRUE(done_because(grandkid, context_error::canceled));

        auto [expired, cancel_expired] = csp::with_timeout(csp::background(), 1ms);
        ASSERT_EQ(expired.done().recv_for(generous).status, csp::chan_status::closed);
        auto [late_kid, cancel_late] = csp::with_cancel(expired);
        EXPECT_TRUE(done_because(late_kid, context_error::deadline_exceeded));
        cancel_kid();
        cancel_timed();
        cancel_grand();
        cancel_late();
    });
}

// Actors of one kind select on done() (or a child's); the other kind
// cancels once they all wait: every one of them wakes, with the reason
// visible.
TEST_P(Context, CancelWakesEveryoneSelectingOnDone) {
    constexpr int selectors = 8;
    auto [ctx, cancel] = csp::with_cancel(csp::background());
    csp::chan<int> never;
    task_group ts(mode());
    ts.go_n(selectors, [&, ctx = ctx](int i) {
        auto [own, cancel_own] = csp::with_cancel(ctx);
        const csp::context& watched = i % 2 ? own : ctx;
        const int idx = csp::select(csp::case_recv(never), csp::case_recv(watched.done()));
        EXPECT_EQ(idx, 1);
        EXPECT_EQ(watched.err(), context_error::canceled);
        cancel_own();
    });
    // The canceller is a plain thread, except when the selectors all are.
    task canceller(mode() != setting::threads, [&, cancel = cancel] {
        EXPECT_TRUE(wait_until_blocked(mode(), selectors, "select"));
        cancel();
    });
    EXPECT_TRUE(ts.finished_within(generous));
}

TEST(ContextErrors, ToString) {
    EXPECT_STREQ(csp::to_string(context_error::none), "none");
    EXPECT_STREQ(csp::to_string(context_error::canceled), "context canceled");
    EXPECT_STREQ(csp::to_string(context_error::deadline_exceeded), "context deadline exceeded");
}

/// Creates `n` children of `parent` and cancels each right away.
void churn_children(const csp::context& parent, int n) {
    for (int i = 0; i < n; ++i) {
        auto [kid, cancel] = i % 4 ? csp::with_cancel(parent) : csp::with_timeout(parent, 1h);
        cancel();
    }
}

// Cancelled children leave their parent: 100k of them cost neither memory
// nor time when the parent is cancelled later.
TEST(ContextChildren, CancelledChildrenDoNotAccumulate) {
    constexpr int n = 100000;
    auto [parent, cancel_parent] = csp::with_cancel(csp::background());
    churn_children(parent, 1000);  // warm up allocator and runtime
    const long rss_before = resident_kib();
    churn_children(parent, n);
    const long rss_after = resident_kib();
    const auto t0 = steady::now();
    cancel_parent();
    const auto cancel_time = steady::now() - t0;
    EXPECT_TRUE(done_because(parent, context_error::canceled));
    EXPECT_LT(cancel_time, generous) << "cancelling the parent took " << ms(cancel_time) << " ms";
    // A leaked child costs a few hundred bytes: 100k would be tens of MiB.
    if (!under_asan) {
        EXPECT_LT(rss_after - rss_before, 8 * 1024) << "VmRSS grew " << rss_after - rss_before << " KiB";
    }
}

// Many live children (a long-lived parent with many requests in flight),
// each cancelled on its own: every cancel leaves the parent in about constant
// time, as in Go (a map there), not in time proportional to the siblings.
TEST(ContextChildren, CancellingLiveChildrenOneByOneIsNotQuadratic) {
    // Quadratic would be n^2/2 list steps: 5e9 at 100,000, far past the
    // bound. Under a sanitizer every step costs several times more, so a
    // fifth of the children (2e8 steps) still overshoots it while the linear
    // walk stays well inside (it took up to 4 s at 100,000 under TSan on a
    // loaded machine).
#ifdef CSP_TEST_SANITIZED
    constexpr int n = 20000;
#else
    constexpr int n = 100000;
#endif
    auto [parent, cancel_parent] = csp::with_cancel(csp::background());
    std::vector<csp::cancel_func> cancels;
    cancels.reserve(n);
    for (int i = 0; i < n; ++i) cancels.push_back(csp::with_cancel(parent).second);
    const auto t0 = steady::now();
    for (auto& c : cancels) c();  // oldest first, as requests usually finish
    const auto took = steady::now() - t0;
    EXPECT_LT(took, generous) << n << " cancels took " << ms(took) << " ms";
    cancel_parent();
}

// The same from goroutines on every scheduler thread at once, each with its
// own children of one shared parent.
TEST(ContextChildren, ConcurrentChurnOnOneParent) {
    constexpr int workers = 8, per_worker = 5000;
    auto [parent, cancel_parent] = csp::with_cancel(csp::background());
    run_tasks(setting::mixed, workers, [&, parent = parent](int) { churn_children(parent, per_worker); });
    const auto t0 = steady::now();
    cancel_parent();
    EXPECT_LT(steady::now() - t0, generous);
    EXPECT_TRUE(done_because(parent, context_error::canceled));
}

// with_timeout(ctx, 0), a negative timeout and a deadline in the past are
// done when they return, as in Go (no timer left to fire later).
TEST_P(Context, ExpiredTimeoutsAreDoneWhenTheyReturn) {
    run([] {
        auto [parent, cancel_parent] = csp::with_cancel(csp::background());
        auto [timed_parent, cancel_timed] = csp::with_timeout(csp::background(), 1h);
        for (const csp::context* base : {&parent, &timed_parent}) {
            auto [zero, c1] = csp::with_timeout(*base, 0ms);
            auto [negative, c2] = csp::with_timeout(*base, -5s);
            auto [past, c3] = csp::with_deadline(*base, steady::now() - 1ms);
            auto [now, c4] = csp::with_deadline(*base, steady::now());
            for (const csp::context* c : {&zero, &negative, &past, &now})
                EXPECT_TRUE(done_because(*c, context_error::deadline_exceeded));
            c1();
            c2();
            c3();
            c4();
            EXPECT_TRUE(live(*base)) << "a child's expiry reached its parent";
        }
        cancel_parent();
        cancel_timed();
    });
}

/// A chain of `levels` with_cancel contexts under `root`: the handles of
/// every 1000th level and of the leaf are kept (the others live in their
/// parent's child list, as in Go when nobody keeps them).
std::vector<csp::context> deep_chain(const csp::context& root, int levels) {
    std::vector<csp::context> kept;
    csp::context c = root;
    for (int i = 1; i <= levels; ++i) {
        c = csp::with_cancel(c).first;
        if (i % 1000 == 0 || i == levels) kept.push_back(c);
    }
    return kept;
}

constexpr int deep = 10000;

// Go cancels a chain of 10,000 contexts; cancelling recursively overflowed
// a goroutine's stack at a few hundred. Runs in a child: an overflow ends
// the process. The canceller is a goroutine or a plain thread per setting.
TEST_P(Context, CancellingTheRootOfATenThousandDeepChainDoesNotRecurse) {
    const setting m = mode();
    expect_clean_exit_in_child([m] {
        run_in(m, [] {
            auto [root, cancel_root] = csp::with_cancel(csp::background());
            auto kept = deep_chain(root, deep);
            for (auto& c : kept) ASSERT_TRUE(live(c));
            cancel_root();
            EXPECT_TRUE(done_because(root, context_error::canceled));
            for (auto& c : kept) EXPECT_TRUE(done_because(c, context_error::canceled));
        });
    });
}

// The same chain under a deadline: the root's timer cancels it all, on a
// scheduler thread (about 800 levels used to kill the process silently).
TEST_P(Context, TheRootsDeadlineCancelsATenThousandDeepChain) {
    const setting m = mode();
    expect_clean_exit_in_child([m] {
        run_in(m, [] {
            auto [root, cancel_root] = csp::with_timeout(csp::background(), 20ms);
            auto kept = deep_chain(root, deep);
            // The root's done channel closes last: descendants first.
            ASSERT_EQ(root.done().recv_for(generous).status, csp::chan_status::closed);
            EXPECT_EQ(root.err(), context_error::deadline_exceeded);
            for (auto& c : kept) EXPECT_TRUE(done_because(c, context_error::deadline_exceeded));
            cancel_root();
        });
    });
}

// Nobody cancels (a leak in Go too, but not a crash): dropping the root of
// a 10,000 deep chain frees it without recursing either.
TEST_P(Context, DroppingAnUncancelledTenThousandDeepChainDoesNotRecurse) {
    const setting m = mode();
    expect_clean_exit_in_child([m] {
        run_in(m, [] {
            std::optional<std::pair<csp::context, csp::cancel_func>> root = csp::with_cancel(csp::background());
            auto kept = deep_chain(root->first, deep);
            kept.clear();
            root.reset();
        });
    });
}

CSP_INSTANTIATE_ALL_SETTINGS(Context);

}  // namespace
}  // namespace csp_test
