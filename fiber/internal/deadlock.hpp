// What deadlock detection (fiber/debug.cpp) hears from the waits.
#pragma once

namespace csp::detail {

/// A goroutine or plain thread starts (+1) or ends (-1) a wait whose
/// deadline is "never" (time_point::max(): a saturated duration). It parks
/// without a timer, yet Go counts such a wait as a pending timer, not as a
/// deadlock: while any is under way, no deadlock is reported. The waiter
/// itself ends the count once it runs again (late is safe: it only delays a
/// report until the next check).
void never_waits_add(long delta) noexcept;

}  // namespace csp::detail
