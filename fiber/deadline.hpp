// The one place where a duration becomes a deadline. Every cspfiber call
// that takes a duration (sleep_for, recv_for, send_for, select_for, after,
// tick, timer, ticker, with_timeout, ...) accepts any std::chrono::duration
// and goes through here, so they all follow one rule:
//
//  - rounding: up, to the steady clock's tick: a wait is never shorter than
//    asked (1.5 ns waits 2 ns; 1/60 s waits 16'666'667 ns);
//  - saturation: a duration too long to add to now() (duration::max(),
//    hours::max(), 1000 years...) gives time_point::max(), which every wait
//    treats as "never": it blocks without a timer;
//  - zero, negative and NaN durations mean "already expired".
//
//   auto t = csp::detail::deadline_after(1.5s);   // steady_clock::time_point
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <ratio>
#include <type_traits>

namespace csp::detail {

using steady_clock = std::chrono::steady_clock;

/// `d` in the steady clock's ticks, rounded up, saturating at
/// steady_clock::duration::max(); zero for d <= 0 (and for NaN).
template <class Rep, class Period>
constexpr steady_clock::duration round_up_to_tick(std::chrono::duration<Rep, Period> d) noexcept {
    using tick = steady_clock::duration;
    static_assert(std::is_arithmetic_v<Rep>, "a cspfiber duration's representation must be arithmetic");
    static_assert(std::is_same_v<tick::rep, std::int64_t>, "the steady clock's ticks are expected to be int64");
    // Source units per tick, as a reduced fraction: one unit is num/den ticks.
    using per_tick = std::ratio_divide<Period, tick::period>;
    constexpr auto tick_max = std::numeric_limits<std::int64_t>::max();
    if (!(d.count() > Rep{0})) return tick::zero();
    if constexpr (std::is_floating_point_v<Rep>) {
        const long double ticks = static_cast<long double>(d.count()) * per_tick::num / per_tick::den;
        // 2^63 is exact in long double; anything at or past it (or +inf) saturates.
        if (!(ticks < 0x1p63L)) return tick::max();
        auto whole = static_cast<std::int64_t>(ticks);
        if (static_cast<long double>(whole) < ticks) ++whole;  // round up; cannot pass tick_max
        return tick(whole);
    } else {
        static_assert(sizeof(Rep) <= 8, "durations wider than 64 bits are not supported");
        // Exact in 128 bits: count < 2^64 and num, den < 2^63.
        __extension__ using u128 = unsigned __int128;
        const u128 scaled = static_cast<u128>(d.count()) * static_cast<u128>(per_tick::num);
        const u128 den = static_cast<u128>(per_tick::den);
        const u128 ticks = scaled / den + (scaled % den != 0 ? 1 : 0);
        return ticks > static_cast<u128>(tick_max) ? tick::max() : tick(static_cast<std::int64_t>(ticks));
    }
}

/// now() + d, rounded up, saturating: time_point::max() ("never") when the
/// sum would not fit.
template <class Rep, class Period>
steady_clock::time_point deadline_after(std::chrono::duration<Rep, Period> d) noexcept {
    const steady_clock::duration wait = round_up_to_tick(d);
    const steady_clock::time_point now = steady_clock::now();
    // Overflow-free test of now + wait > max (wait >= 0; now may be negative
    // on an exotic clock, and then the sum cannot overflow).
    if (now.time_since_epoch().count() > 0 && wait > steady_clock::time_point::max() - now)
        return steady_clock::time_point::max();
    return now + wait;
}

/// True for the deadline that means "never" (see deadline_after).
constexpr bool is_never(steady_clock::time_point t) noexcept { return t == steady_clock::time_point::max(); }

}  // namespace csp::detail
