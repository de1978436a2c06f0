// chan_state<T>: a channel of T: the buffer and the typed transfers.
#pragma once

#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include <chan/detail/chan_base.hpp>

namespace csp::detail {

/// Selects chan<T>'s constructor for a timer's channel (chan/time.cpp).
struct timer_channel_tag {};

/// Fixed-capacity FIFO of T over raw storage: all `cap` slots usable, T need
/// not be default-constructible.
template <class T>
class ring {
public:
    explicit ring(std::size_t cap)
        : slots_(cap ? static_cast<T*>(::operator new(cap * sizeof(T), std::align_val_t(alignof(T)))) : nullptr),
          cap_(cap) {}
    ~ring() {
        while (size_) pop();
        if (slots_) ::operator delete(slots_, std::align_val_t(alignof(T)));
    }
    ring(const ring&) = delete;
    ring& operator=(const ring&) = delete;

    std::size_t size() const noexcept { return size_; }
    bool full() const noexcept { return size_ == cap_; }

    void push(T&& v) noexcept {
        std::size_t tail = head_ + size_;
        if (tail >= cap_) tail -= cap_;
        ::new (static_cast<void*>(slots_ + tail)) T(std::move(v));
        ++size_;
    }
    /// Moves the oldest value into `out`.
    void pop_into(std::optional<T>& out) noexcept {
        out.emplace(std::move(slots_[head_]));
        pop();
    }

private:
    void pop() noexcept {
        slots_[head_].~T();
        if (++head_ == cap_) head_ = 0;
        --size_;
    }

    T* slots_;
    std::size_t cap_;
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

template <class T>
class chan_state final : public chan_base {
    static_assert(std::is_nothrow_move_constructible_v<T>,
                  "channel element types must be nothrow move constructible: a value is moved "
                  "under the channel's lock");

public:
    explicit chan_state(std::size_t capacity) : chan_base(capacity), buf_(capacity) {}
    /// A channel that reports `capacity` but buffers up to `slots` values: a
    /// timer's (Go 1.23: one value waits inside, cap() and len() say 0).
    chan_state(std::size_t capacity, std::size_t slots) : chan_base(capacity), buf_(slots) {}

    op_result try_send_locked(void* src, wake_list& wl) noexcept override {
        T& value = *static_cast<T*>(src);
        if (closed) return op_result::closed;
        // Fast path first: a receiver is already waiting, hand it over.
        if (waiter* w = recvq.claim_first()) {
            static_cast<std::optional<T>*>(w->data)->emplace(std::move(value));
            w->success = true;
            wl.push(w->owner);
            return op_result::done;
        }
        if (!buf_.full()) {
            buf_.push(std::move(value));
            return op_result::done;
        }
        return op_result::not_ready;
    }

    op_result try_recv_locked(void* dst, bool& ok, wake_list& wl) noexcept override {
        auto& out = *static_cast<std::optional<T>*>(dst);
        if (buf_.size() != 0) {
            buf_.pop_into(out);
            // The buffer was full if a sender waits: its value takes the slot
            // just freed, so FIFO order holds.
            if (waiter* w = sendq.claim_first()) {
                buf_.push(std::move(*static_cast<T*>(w->data)));
                w->success = true;
                wl.push(w->owner);
            }
            ok = true;
            return op_result::done;
        }
        if (waiter* w = sendq.claim_first()) {  // unbuffered: take it from the sender
            out.emplace(std::move(*static_cast<T*>(w->data)));
            w->success = true;
            wl.push(w->owner);
            ok = true;
            return op_result::done;
        }
        if (closed) {
            ok = false;
            return op_result::done;
        }
        return op_result::not_ready;
    }

    std::size_t buffered_locked() const noexcept override { return buf_.size(); }

private:
    ring<T> buf_;
};

}  // namespace csp::detail
