// csp::once: Go's sync.Once. Callers that arrive while f runs wait for it
// (goroutines park). If f throws, the exception reaches its caller and the
// once counts as done, as in Go.
//
//   csp::once init;
//   init.call([] { load_config(); });
#pragma once

#include <atomic>
#include <mutex>
#include <utility>

#include <fiber/mutex.hpp>

namespace csp {

class once {
public:
    template <class F>
    void call(F&& f) {
        if (done_.load(std::memory_order_acquire)) return;  // fast path
        std::lock_guard lk(mu_);
        if (done_.load(std::memory_order_relaxed)) return;
        struct mark_done {
            std::atomic<bool>& d;
            ~mark_done() { d.store(true, std::memory_order_release); }
        } guard{done_};
        std::forward<F>(f)();
    }
    bool done() const noexcept { return done_.load(std::memory_order_acquire); }

private:
    std::atomic<bool> done_{false};
    mutex mu_;
};

}  // namespace csp
