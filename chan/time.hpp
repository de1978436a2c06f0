// Time as channels (Go's time.After, time.Tick, time.Timer, time.Ticker).
// All timers share one heap, fired by the scheduler threads: no thread or
// fiber per timer.
//
//   csp::select(csp::case_recv(results, on_result),
//               csp::case_recv(csp::after(1s), [](auto) { puts("timeout"); }));
//
//   csp::ticker t(100ms);
//   for (int i = 0; i < 3; ++i) t.c.recv();   // three ticks
//   t.stop();
#pragma once

#include <chrono>
#include <memory>

#include <chan/chan.hpp>

namespace csp {

using time_point = std::chrono::steady_clock::time_point;
using duration = std::chrono::steady_clock::duration;

namespace detail {
struct timer_state;
/// Owns one reference to a timer_state (the heap holds another while armed).
class timer_handle {
public:
    timer_handle(duration d, duration period);
    timer_handle(const timer_handle&) = delete;
    timer_handle& operator=(const timer_handle&) = delete;
    ~timer_handle();
    recv_chan<time_point> channel() const;
    bool stop() noexcept;
    bool reset(duration d, duration period);

private:
    timer_state* s_;
};
}  // namespace detail

/// A channel that receives the time once, after d (time.After). Its timer
/// keeps running if nobody receives; the value waits in the channel.
recv_chan<time_point> after(duration d);

/// A channel that receives the time every d, forever (time.Tick). Ticks a
/// slow receiver misses are dropped.
recv_chan<time_point> tick(duration d);

/// A one-shot timer (time.Timer): `c` receives the time once it fires.
class timer {
public:
    explicit timer(duration d) : h_(d, duration::zero()), c(h_.channel()) {}
    /// Stops the timer; true if that prevented it from firing. Afterwards
    /// `c` holds no stale value (Go 1.23 semantics).
    bool stop() noexcept { return h_.stop(); }
    /// Re-arms the timer to fire after d; true if it had been active.
    bool reset(duration d) { return h_.reset(d, duration::zero()); }

private:
    detail::timer_handle h_;

public:
    recv_chan<time_point> c;
};

/// A periodic timer (time.Ticker): `c` receives the time every period.
class ticker {
public:
    explicit ticker(duration period) : h_(period, period), c(h_.channel()) {}
    void stop() noexcept { h_.stop(); }
    void reset(duration period) { h_.reset(period, period); }

private:
    detail::timer_handle h_;

public:
    recv_chan<time_point> c;
};

}  // namespace csp
