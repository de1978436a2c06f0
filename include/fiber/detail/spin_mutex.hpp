// A tiny test-and-test-and-set lock for very short critical sections
// (a channel's queues, a wait_group's counter). It never parks: holders do a
// few pointer moves and never block, wake or allocate while holding it.
#pragma once

#include <atomic>
#include <thread>

namespace csp::detail {

inline void spin_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

class spin_mutex {
public:
    void lock() noexcept {
        for (;;) {
            // Why exchange first: the uncontended case is one atomic.
            if (!locked_.exchange(true, std::memory_order_acquire)) return;
            // Why spin on a load: it keeps the line shared instead of
            // bouncing it between cores while the holder finishes.
            for (int i = 0; locked_.load(std::memory_order_relaxed); ++i) {
                if (i < 64) spin_pause();
                else std::this_thread::yield();  // the holder's thread was preempted
            }
        }
    }
    bool try_lock() noexcept { return !locked_.exchange(true, std::memory_order_acquire); }
    void unlock() noexcept { locked_.store(false, std::memory_order_release); }

private:
    std::atomic<bool> locked_{false};
};

}  // namespace csp::detail
