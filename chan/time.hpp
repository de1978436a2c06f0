// Time as channels (Go's time.After, time.Tick, time.Timer, time.Ticker),
// with Go 1.23's semantics. All timers share one heap, fired by the scheduler
// threads: no thread or fiber per timer.
//
//   csp::select(csp::case_recv(results, on_result),
//               csp::case_recv(csp::after(1s), [](auto) { puts("timeout"); }));
//
//   csp::ticker t(100ms);
//   for (int i = 0; i < 3; ++i) t.c.recv();   // three ticks
//   t.stop();
//
// As in Go 1.23:
//  - a timer's channel presents as unbuffered (cap() == len() == 0); a value
//    fired but not yet received waits inside it;
//  - stop() and reset() return true while the timer is active: neither
//    stopped nor its value received (a value fired but not received counts
//    as not fired); once they return no stale value can be received (so
//    Go's old `if (!t.stop()) t.c.recv();` is unnecessary, and never blocks
//    on a value nobody took);
//  - a timer whose channel nobody holds any more (a dropped after(1h)) is
//    gone: it leaves the heap and does not postpone the deadlock report. A
//    select case holds its channel like any handle.
//  - stop and reset may be called from several goroutines and threads.
//
// Every duration here may be any std::chrono::duration; it is rounded up to
// the clock's tick, and one too long to add to now() means "never" (see
// fiber/deadline.hpp).
#pragma once

#include <chrono>
#include <memory>

#include <chan/chan.hpp>
#include <fiber/deadline.hpp>

namespace csp {

using time_point = std::chrono::steady_clock::time_point;
using duration = std::chrono::steady_clock::duration;

namespace detail {
struct timer_state;
/// A timer and a handle to its channel (the timer lives as long as the
/// channel has handles). `when` is the first firing; `period` > 0 re-arms it
/// every period (a ticker). stop() and reset() may race with each other.
class timer_handle {
public:
    timer_handle(time_point when, duration period);
    timer_handle(const timer_handle&) = delete;
    timer_handle& operator=(const timer_handle&) = delete;
    ~timer_handle();
    recv_chan<time_point> channel() const;
    bool stop() noexcept;
    bool reset(time_point when, duration period);

private:
    chan<time_point> ch_;
    timer_state* s_;  // owned by the channel (its companion)
};

recv_chan<time_point> after_deadline(time_point when);
recv_chan<time_point> tick_every(duration period);
/// A ticker's period rounded up; throws std::invalid_argument unless it is
/// positive (Go panics: "non-positive interval").
duration checked_period(duration rounded, const char* who);

template <class Rep, class Period>
duration checked_period(std::chrono::duration<Rep, Period> d, const char* who) {
    return checked_period(round_up_to_tick(d), who);
}
}  // namespace detail

/// A channel that receives the time once, after d (time.After). The value
/// waits in the channel until received; dropping every handle of the channel
/// drops the timer.
template <class Rep, class Period>
recv_chan<time_point> after(std::chrono::duration<Rep, Period> d) {
    return detail::after_deadline(detail::deadline_after(d));
}

/// A channel that receives the time every d, forever (time.Tick). Ticks a
/// slow receiver misses are dropped. Throws std::invalid_argument if d <= 0.
template <class Rep, class Period>
recv_chan<time_point> tick(std::chrono::duration<Rep, Period> d) {
    return detail::tick_every(detail::checked_period(d, "csp::tick"));
}

/// A one-shot timer (time.Timer): `c` receives the time once it fires.
class timer {
public:
    template <class Rep, class Period>
    explicit timer(std::chrono::duration<Rep, Period> d)
        : h_(detail::deadline_after(d), duration::zero()), c(h_.channel()) {}
    /// Stops the timer; true if it was active: not stopped, and its value not
    /// received (not fired yet, or fired and nobody took the value: Go 1.23).
    /// Afterwards `c` delivers nothing until a reset.
    bool stop() noexcept { return h_.stop(); }
    /// Re-arms the timer to fire after d; true if it was active (as stop);
    /// a value not received is dropped (Go 1.23).
    template <class Rep, class Period>
    bool reset(std::chrono::duration<Rep, Period> d) {
        return h_.reset(detail::deadline_after(d), duration::zero());
    }

private:
    detail::timer_handle h_;

public:
    recv_chan<time_point> c;
};

/// A periodic timer (time.Ticker): `c` receives the time every period; a
/// tick a slow receiver misses is dropped. Throws std::invalid_argument
/// unless the period is positive (Go panics).
class ticker {
public:
    template <class Rep, class Period>
    explicit ticker(std::chrono::duration<Rep, Period> period)
        : ticker(detail::checked_period(period, "csp::ticker")) {}
    /// No more ticks; a tick not received yet is dropped (Go 1.23).
    void stop() noexcept { h_.stop(); }
    /// Ticks every `period` from now on; a tick not received yet is dropped.
    template <class Rep, class Period>
    void reset(std::chrono::duration<Rep, Period> period) {
        const duration p = detail::checked_period(period, "csp::ticker::reset");
        h_.reset(detail::deadline_after(p), p);
    }

private:
    explicit ticker(duration p) : h_(detail::deadline_after(p), p), c(h_.channel()) {}
    detail::timer_handle h_;

public:
    recv_chan<time_point> c;
};

}  // namespace csp
