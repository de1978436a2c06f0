#include <fiber/sleep.hpp>

#include <thread>

#include <fiber/detail/parker.hpp>
#include <fiber/internal/sched.hpp>

namespace csp {

void sleep_until(std::chrono::steady_clock::time_point deadline) {
    // "Never" parks for good, also on a plain thread: the deadlock detector
    // then sees that thread blocked for good.
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
