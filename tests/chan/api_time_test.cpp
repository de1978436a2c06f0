// One time vocabulary: every call that takes a duration takes any
// std::chrono::duration, rounds it up to the clock's tick (a wait is never
// shorter than asked) and saturates (a duration too long to add to now()
// means "never", without overflow).
#include "harness/harness.hpp"

#include <chan/context.hpp>
#include <chan/selector.hpp>
#include <chan/time.hpp>
#include <fiber/deadline.hpp>

#include <cmath>
#include <limits>

namespace {

using namespace csp_test;
using csp::case_recv;
using csp::chan;
using csp::chan_status;
using csp::detail::deadline_after;
using csp::detail::round_up_to_tick;
using std::chrono::duration;
using std::chrono::hours;
using std::chrono::nanoseconds;
using ticks = steady::duration;
using fsec = duration<double>;
constexpr auto never = steady::time_point::max();

// ---- The rule, at compile time -----------------------------------------------

static_assert(round_up_to_tick(duration<double, std::nano>(1.5)) == ticks(2));
static_assert(round_up_to_tick(duration<long long, std::ratio<1, 60>>(1)) == ticks(16'666'667));
static_assert(round_up_to_tick(duration<long long, std::pico>(1)) == ticks(1));
static_assert(round_up_to_tick(duration<long long, std::pico>(2000)) == ticks(2));
static_assert(round_up_to_tick(std::chrono::milliseconds(3)) == ticks(3'000'000));
static_assert(round_up_to_tick(std::chrono::seconds(-1)) == ticks::zero());
static_assert(round_up_to_tick(hours::max()) == ticks::max());
static_assert(round_up_to_tick(nanoseconds::max()) == ticks::max());
static_assert(round_up_to_tick(duration<unsigned long long, std::nano>(~0ull)) == ticks::max());
static_assert(round_up_to_tick(duration<unsigned, std::ratio<3600>>(~0u)) == ticks::max());
static_assert(round_up_to_tick(fsec(1e300)) == ticks::max());
static_assert(round_up_to_tick(fsec(std::numeric_limits<double>::infinity())) == ticks::max());
static_assert(round_up_to_tick(fsec(std::numeric_limits<double>::quiet_NaN())) == ticks::zero());
static_assert(round_up_to_tick(fsec(-0.5)) == ticks::zero());

TEST(Deadline, SaturatesToNeverWithoutOverflow) {
    EXPECT_EQ(deadline_after(steady::duration::max()), never);
    EXPECT_EQ(deadline_after(nanoseconds::max()), never);
    EXPECT_EQ(deadline_after(hours::max()), never);
    EXPECT_EQ(deadline_after(duration<double>(1e30)), never);
    const auto before = steady::now();
    const auto t = deadline_after(1.5s);
    EXPECT_GE(t, before + 1500ms);
    EXPECT_LE(t, steady::now() + 1500ms);
    const auto expired = deadline_after(-1h);  // already expired: now, not an hour ago
    EXPECT_LE(expired, steady::now());
    EXPECT_GE(expired, before);
}

class Durations : public SettingTest {};
CSP_INSTANTIATE_SETTINGS(Durations);

/// Expects `f` to take at least `d`.
template <class F>
void expect_at_least(steady::duration d, F f) {
    const auto t0 = steady::now();
    f();
    EXPECT_GE(since(t0), d);
}

TEST_P(Durations, EveryTimedCallTakesAFractionalDurationAndNeverWaitsLess) {
    run([&] {
        const fsec d(0.0015);  // 1.5 ms
        chan<int> nobody;
        expect_at_least(1500us, [&] { csp::sleep_for(d); });
        expect_at_least(1500us, [&] { EXPECT_EQ(nobody.recv_for(d).status, chan_status::timeout); });
        expect_at_least(1500us, [&] { EXPECT_EQ(nobody.send_for(1, d), chan_status::timeout); });
        expect_at_least(1500us, [&] { EXPECT_EQ(csp::select_for(d, case_recv(nobody)), std::nullopt); });
        expect_at_least(1500us, [&] { EXPECT_TRUE(csp::after(d).recv()); });
        expect_at_least(1500us, [&] {
            csp::selector sel;
            sel.add_recv(nobody);
            EXPECT_EQ(sel.select_for(d), std::nullopt);
        });
        expect_at_least(1500us, [&] {
            csp::timer t(d);
            EXPECT_TRUE(t.c.recv());
        });
        expect_at_least(1500us, [&] {
            csp::timer t(1h);
            t.reset(d);
            EXPECT_TRUE(t.c.recv());
        });
        expect_at_least(3000us, [&] {
            csp::ticker tk(d);
            EXPECT_TRUE(tk.c.recv());
            EXPECT_TRUE(tk.c.recv());
            tk.stop();
        });
        expect_at_least(1500us, [&] {
            csp::ticker tk(1h);
            tk.reset(d);
            EXPECT_TRUE(tk.c.recv());
        });
        expect_at_least(1500us, [&] { EXPECT_TRUE(csp::tick(d).recv()); });
        expect_at_least(1500us, [&] {
            auto [ctx, cancel] = csp::with_timeout(csp::background(), d);
            EXPECT_FALSE(ctx.done().recv());  // closed when the deadline passes
            EXPECT_EQ(ctx.err(), csp::context_error::deadline_exceeded);
            cancel();
        });
    });
}

TEST_P(Durations, ANonPositiveTickerPeriodThrowsLikeGoPanics) {
    run([&] {
        EXPECT_THROW(csp::ticker(0s), std::invalid_argument);
        EXPECT_THROW(csp::ticker(fsec(-1)), std::invalid_argument);
        EXPECT_THROW(csp::tick(fsec(0)), std::invalid_argument);
        csp::ticker tk(1h);
        EXPECT_THROW(tk.reset(0ms), std::invalid_argument);
        EXPECT_NO_THROW(csp::ticker(duration<double, std::nano>(0.1)).stop());  // rounds up to 1 ns
    });
}

TEST_P(Durations, MaximalDurationsMeanNever) {
    run([&] {
        // Today's bug: after(duration::max()) fired at once (signed overflow).
        auto a = csp::after(steady::duration::max());
        auto b = csp::after(hours::max());
        csp::timer t(nanoseconds::max());
        EXPECT_EQ(csp::select_for(5ms, case_recv(a), case_recv(b), case_recv(t.c)), std::nullopt);
        EXPECT_TRUE(t.stop());  // it was still armed
        auto [ctx, cancel] = csp::with_timeout(csp::background(), hours::max());
        EXPECT_EQ(ctx.deadline(), never);
        EXPECT_EQ(csp::select_for(2ms, case_recv(ctx.done())), std::nullopt);
        cancel();
        EXPECT_EQ(ctx.err(), csp::context_error::canceled);
    });
}

// Every timer-making call with a maximal duration or deadline means "never":
// tick and ticker too, reset to a maximal duration, a context deadline of
// time_point::max() and a child under it (no overflow, nothing fires).
TEST_P(Durations, EveryTimerCallWithAMaximalDurationNeverFires) {
    run([&] {
        auto tc = csp::tick(steady::duration::max());
        csp::ticker tk(hours::max());
        csp::ticker tk_reset(1h);
        tk_reset.reset(nanoseconds::max());
        csp::timer t_reset(1ms);
        EXPECT_TRUE(t_reset.reset(duration<double>(1e300)));
        auto [ctx, cancel] = csp::with_deadline(csp::background(), never);
        auto [kid, cancel_kid] = csp::with_timeout(ctx, hours::max());
        EXPECT_EQ(kid.deadline(), never);
        EXPECT_EQ(csp::select_for(5ms, case_recv(tc), case_recv(tk.c), case_recv(tk_reset.c),
                                  case_recv(t_reset.c), case_recv(ctx.done()), case_recv(kid.done())),
                  std::nullopt);
        EXPECT_TRUE(t_reset.stop());  // still armed
        EXPECT_EQ(kid.err(), csp::context_error::none);
        cancel();
        EXPECT_EQ(kid.err(), csp::context_error::canceled);
        tk.stop();
        tk_reset.stop();
    });
}

TEST_P(Durations, AWaitWithANeverDeadlineIsCompletedByItsPartner) {
    run([&] {
        chan<int> ch;
        chan<int> back;
        task_group g(mode());
        g.go([s = mode(), ch, back] {
            // The receive below parks with a "never" deadline, without a timer.
            ASSERT_TRUE(wait_until_blocked(s, 1, "chan receive", object_of(ch)));
            ch.send(1);
            EXPECT_EQ(*back.recv(), 2);
            ch.send(3);
        });
        auto r = ch.recv_for(hours::max());
        ASSERT_TRUE(r);
        EXPECT_EQ(*r, 1);
        EXPECT_EQ(back.send_for(2, steady::duration::max()), chan_status::ok);
        int got = 0;
        EXPECT_EQ(csp::select_until(never, case_recv(ch, [&](int v) { got = v; })), 0);
        EXPECT_EQ(got, 3);
    });
}

TEST_P(Durations, SelectAndSelectorReportATimeoutTheSameWay) {
    run([&] {
        chan<int> nobody;
        std::optional<int> r = csp::select_for(1ms, case_recv(nobody));
        EXPECT_FALSE(r.has_value());
        csp::selector sel;
        sel.add_recv(nobody);
        std::optional<std::size_t> s = sel.select_for(1ms);
        EXPECT_FALSE(s.has_value());
        chan<int> ready(1);
        ready.send(1);
        EXPECT_EQ(csp::select_for(1h, case_recv(nobody), case_recv(ready)), 1);
    });
}

}  // namespace
