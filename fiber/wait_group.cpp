#include <fiber/wait_group.hpp>

#include <mutex>
#include <stdexcept>

namespace csp {

void wait_group::add(long delta) {
    detail::wake_list wl;
    std::lock_guard lk(mu_);
    if (count_ + delta < 0) throw std::logic_error("sync: negative WaitGroup counter");
    count_ += delta;
    if (count_ == 0) waiters_.claim_all(wl, true);
    // wl wakes everyone after lk is released (destroyed in reverse order).
}

void wait_group::wait() {
    std::unique_lock lk(mu_);
    if (count_ == 0) return;
    detail::parker self;
    self.reason = detail::wait_reason::wait_group;
    self.object = this;
    detail::waiter w;
    waiters_.wait(w, self, lk);
}

}  // namespace csp
