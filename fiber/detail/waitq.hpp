// waiter and waitq: the entries a blocked operation leaves in a channel's
// (or a wait_group's, a mutex's) queue, Go's sudog and waitq.
#pragma once

#include <fiber/detail/parker.hpp>

namespace csp::detail {

struct waiter {
    parker* owner = nullptr;
    void* data = nullptr;   // send: the T to move from; receive: the std::optional<T> to fill
    int index = 0;          // the select case this waiter stands for
    bool success = false;   // set by the claimer: false means "woken by close"
    bool linked = false;    // in a queue (only read or written under that queue's lock)
    waiter* prev = nullptr;
    waiter* next = nullptr;

    /// Claims the owner for this waiter's case (Go's selectDone CAS).
    bool try_claim() noexcept { return owner->try_claim(index + 1); }
};

/// FIFO of waiters, intrusive, guarded by its owner's lock.
class waitq {
public:
    bool empty() const noexcept { return head_ == nullptr; }

    void push_back(waiter* w) noexcept {
        w->linked = true;
        w->next = nullptr;
        w->prev = tail_;
        if (tail_) tail_->next = w;
        else head_ = w;
        tail_ = w;
    }

    void remove(waiter* w) noexcept {
        if (!w->linked) return;  // already taken by a claimer
        if (w->prev) w->prev->next = w->next;
        else head_ = w->next;
        if (w->next) w->next->prev = w->prev;
        else tail_ = w->prev;
        w->linked = false;
        w->prev = w->next = nullptr;
    }

    /// Pops waiters until one can be claimed for its case; stale waiters
    /// (their select already completed elsewhere, or timed out) are dropped.
    [[gnu::always_inline]] waiter* claim_first() noexcept {
        while (waiter* w = head_) {
            remove(w);
            if (w->try_claim()) return w;
        }
        return nullptr;
    }

    /// Pops every claimable waiter, sets its success flag and queues it for
    /// waking (close of a channel: false; a wait_group reaching zero: true).
    void claim_all(wake_list& wl, bool success) noexcept {
        while (waiter* w = claim_first()) {
            w->success = success;
            wl.push(w->owner);
        }
    }

    /// Blocks the caller until a claimer takes `w` (owned by `p`): queues it,
    /// then parks, dropping `lk` (this queue's lock) once safe.
    template <class Lock>
    void wait(waiter& w, parker& p, Lock& lk) {
        w.owner = &p;
        push_back(&w);
        p.park([&lk]() noexcept { lk.unlock(); });
    }

private:
    waiter* head_ = nullptr;
    waiter* tail_ = nullptr;
};

}  // namespace csp::detail
