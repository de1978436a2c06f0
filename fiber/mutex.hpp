// csp::mutex: Go's sync.Mutex, fiber-aware. A goroutine that waits parks
// (its thread runs other goroutines); a plain thread blocks. Unlock hands the
// lock straight to the longest waiter, so nobody starves. Meets the C++
// Lockable requirements:
//
//   csp::mutex mu;
//   { std::lock_guard lk(mu); counter++; }
#pragma once

#include <fiber/detail/spin_mutex.hpp>
#include <fiber/detail/waitq.hpp>

namespace csp {

class mutex {
public:
    mutex() = default;
    mutex(const mutex&) = delete;
    mutex& operator=(const mutex&) = delete;

    void lock();
    bool try_lock() noexcept;
    /// Throws std::logic_error on an unlocked mutex (Go: "sync: unlock of
    /// unlocked mutex").
    void unlock();

private:
    detail::spin_mutex mu_;
    bool locked_ = false;
    detail::waitq waiters_;
};

}  // namespace csp
