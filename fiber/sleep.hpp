// Sleeping: csp::sleep_for / csp::sleep_until (Go's time.Sleep).
//
//   csp::sleep_for(100ms);   // parks this goroutine only; other goroutines run
//   csp::sleep_for(1.5s);    // any std::chrono::duration (see fiber/deadline.hpp)
#pragma once

#include <chrono>

#include <fiber/deadline.hpp>

namespace csp {

/// Parks the calling goroutine until `deadline` (a plain thread sleeps).
/// time_point::max() sleeps forever.
void sleep_until(std::chrono::steady_clock::time_point deadline);

/// Parks the calling goroutine for `d`, rounded up to the clock's tick (a
/// plain thread sleeps). A duration too long to add to now() sleeps forever.
template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> d) {
    sleep_until(detail::deadline_after(d));
}

}  // namespace csp
