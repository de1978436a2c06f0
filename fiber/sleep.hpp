// Sleeping: csp::sleep_for / csp::sleep_until (Go's time.Sleep).
//
//   csp::sleep_for(100ms);   // parks this goroutine only; other goroutines run
#pragma once

#include <chrono>

namespace csp {

/// Parks the calling goroutine until `deadline` (a plain thread sleeps).
void sleep_until(std::chrono::steady_clock::time_point deadline);

/// Parks the calling goroutine for `d` (a plain thread sleeps).
template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> d) {
    sleep_until(std::chrono::steady_clock::now() + std::chrono::ceil<std::chrono::steady_clock::duration>(d));
}

}  // namespace csp
