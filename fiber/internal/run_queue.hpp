// run_queue: a proc's local queue of ready goroutines, a ring of pointers
// (Go's runq), used under the proc's queue lock.
//
// Why a ring and not Boost's intrusive list: a thief takes half the queue.
// From a list it unlinks every goroutine one by one, reading and writing each
// one's hook, lines the owner wrote last: a cache miss per goroutine, all of
// them under the victim's lock, while the owner waits to push (spawn_join at
// 2 threads spent most of its time in that lock, slept in sched_yield, and
// ran 3x slower). From a ring it copies pointers, a few lines in a row, and
// touches no goroutine.
//
// Example (under the owner's lock):
//   run_queue<ctx> q;  q.push_back(c);  ctx* next = q.pop_back();
#pragma once

#include <cstddef>

namespace csp::detail {

template <class T>
class run_queue {
public:
    /// Room for a full local queue (proc's limit is 1024) and for what a
    /// steal or a yield adds before the owner's overflow check runs.
    static constexpr std::size_t capacity = 2048;

    std::size_t size() const noexcept { return tail_ - head_; }
    bool empty() const noexcept { return tail_ == head_; }
    bool full() const noexcept { return size() == capacity; }

    // Callers check full() / empty() first.
    void push_back(T* x) noexcept { slots_[tail_++ % capacity] = x; }
    void push_front(T* x) noexcept { slots_[--head_ % capacity] = x; }
    T* pop_back() noexcept { return slots_[--tail_ % capacity]; }
    T* pop_front() noexcept { return slots_[head_++ % capacity]; }

private:
    // Free-running counters (unsigned wrap-around keeps tail - head right);
    // a slot is counter % capacity.
    std::size_t head_ = 0;
    std::size_t tail_ = 0;
    T* slots_[capacity];
};

}  // namespace csp::detail
