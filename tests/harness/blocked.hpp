// Knowing, not guessing, that a waiter is parked: the runtime's own record of
// what each goroutine waits for (csp::goroutines_waiting) and how many plain
// threads are blocked (csp::threads_waiting).
#pragma once

#include <gtest/gtest.h>

#include <cstddef>

#include <chan/chan.hpp>
#include <fiber/debug.hpp>
#include <fiber/go.hpp>

#include "settings.hpp"
#include "timing.hpp"

namespace csp_test {

/// The object a goroutine blocked on `ch` waits on, as the runtime records it.
template <class Chan>
const void* object_of(const Chan& ch) {
    return ch.base();
}

/// Plain threads blocked with no deadline, but for those waiting in a
/// csp::run started by run_in (they wait for their main goroutine).
inline std::size_t blocked_threads() {
    const std::size_t all = csp::threads_waiting();
    const std::size_t in_run = static_cast<std::size_t>(threads_in_run.load());
    return all > in_run ? all - in_run : 0;
}

/// Waits until at least `n` waiters are parked: goroutines waiting for
/// `reason` (as goroutine_state spells it: "chan send", "chan receive",
/// "select", "sync.WaitGroup.Wait", "sync.Mutex.Lock", "sleep", ...) on
/// `object` (anything if null) and, unless the setting has only goroutines,
/// plain threads blocked in any cspfiber wait with no deadline (the runtime
/// does not record what a thread waits for). A parked goroutine's waiter is
/// already queued: whoever comes next finds it. Fails with the goroutine
/// dump after `patience`.
///
///   g.go([&] { ch.send(1); });
///   ASSERT_TRUE(wait_until_blocked(mode(), 1, "chan send", object_of(ch)));
///
/// A plain thread in a timed wait shows nowhere: for that case see settle().
inline ::testing::AssertionResult wait_until_blocked(setting s, std::size_t n, const char* reason,
                                                     const void* object = nullptr) {
    const auto give_up = steady::now() + patience;
    for (;;) {
        const std::size_t goroutines = csp::goroutines_waiting(reason, object);
        const std::size_t threads = s == setting::goroutines ? 0 : blocked_threads();
        if (goroutines + threads >= n) return ::testing::AssertionSuccess();
        if (steady::now() > give_up)
            return ::testing::AssertionFailure()
                   << "waited " << std::chrono::duration_cast<std::chrono::seconds>(patience).count() << " s for "
                   << n << " waiter(s) in [" << reason << (object ? " on the object" : "") << "]; saw " << goroutines
                   << " goroutine(s) and " << threads << " plain thread(s). Goroutines:\n"
                   << csp::goroutine_dump();
        csp::yield();
    }
}

/// The same, counting goroutines only.
inline ::testing::AssertionResult wait_until_blocked(std::size_t n, const char* reason,
                                                     const void* object = nullptr) {
    return wait_until_blocked(setting::goroutines, n, reason, object);
}

/// For a waiter with a deadline (recv_for, select_until, ...): a goroutine
/// is seen as above; a plain thread in a timed wait is counted nowhere, so
/// for one (`waiter_on_thread`) this falls back to settle(): a test using it
/// must hold whether or not the thread waits yet.
inline ::testing::AssertionResult wait_until_blocked_with_deadline(bool waiter_on_thread, std::size_t n,
                                                                   const char* reason, const void* object = nullptr) {
    if (!waiter_on_thread) return wait_until_blocked(n, reason, object);
    settle();
    return ::testing::AssertionSuccess();
}

}  // namespace csp_test
