#include <fiber/sleep.hpp>

#include <thread>

#include <fiber/detail/parker.hpp>
#include <fiber/internal/sched.hpp>

namespace csp {

void sleep_until(std::chrono::steady_clock::time_point deadline) {
    // "Never" parks, also on a plain thread: the deadlock detector then sees
    // the thread blocked, in a wait it counts as a pending timer (as Go does).
    if (!detail::in_goroutine() && !detail::is_never(deadline)) {
        std::this_thread::sleep_until(deadline);
        return;
    }
    if (deadline <= std::chrono::steady_clock::now()) return;
    // A parker that nobody but its deadline timer can claim.
    detail::parker p;
    p.reason = detail::wait_reason::sleep;
    p.park_until(deadline, [] {});
}

}  // namespace csp
