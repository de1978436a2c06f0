// csp::wait_group: Go's sync.WaitGroup.
//
//   csp::wait_group wg;
//   for (int i = 0; i < n; ++i) {
//       wg.add(1);
//       csp::go([&wg] { work(); wg.done(); });
//   }
//   wg.wait();
#pragma once

#include <fiber/detail/spin_mutex.hpp>
#include <fiber/detail/waitq.hpp>

namespace csp {

class wait_group {
public:
    wait_group() = default;
    wait_group(const wait_group&) = delete;
    wait_group& operator=(const wait_group&) = delete;

    /// Adds delta (may be negative) to the counter; at zero, every waiter is
    /// released. Throws std::logic_error if the counter would go negative
    /// (Go: "sync: negative WaitGroup counter"); the counter is left as it was.
    void add(long delta);
    /// add(-1).
    void done() { add(-1); }
    /// Blocks until the counter is zero (a goroutine parks, a thread blocks).
    void wait();

private:
    detail::spin_mutex mu_;
    long count_ = 0;
    detail::waitq waiters_;
};

}  // namespace csp
