#include <fiber/mutex.hpp>

#include <mutex>
#include <stdexcept>

namespace csp {

void mutex::lock() {
    std::unique_lock lk(mu_);
    if (!locked_) {
        locked_ = true;
        return;
    }
    // unlock() hands the mutex to us directly: locked_ stays true.
    detail::parker self;
    self.reason = detail::wait_reason::mutex;
    self.object = this;
    detail::waiter w;
    waiters_.wait(w, self, lk);
}

bool mutex::try_lock() noexcept {
    std::lock_guard lk(mu_);
    if (locked_) return false;
    locked_ = true;
    return true;
}

void mutex::unlock() {
    detail::wake_list wl;
    std::lock_guard lk(mu_);
    if (!locked_) throw std::logic_error("sync: unlock of unlocked mutex");
    if (detail::waiter* w = waiters_.claim_first()) wl.push(w->owner);  // ownership passes on
    else locked_ = false;
}

}  // namespace csp
