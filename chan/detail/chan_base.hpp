// chan_base: the part of a channel that select sees (crossbeam's
// SelectHandle, in Go's shape): one lock, the queues of blocked receivers and
// senders, and two operations tried under the lock.
//
// Invariants (all under `mu`):
//  - recvq is non-empty only when the buffer is empty; sendq only when it is
//    full (an unbuffered channel is always both).
//  - A value goes straight from a blocked sender to a receiver, or through
//    the buffer; the waiter it came from is claimed (its parker's CAS) before
//    its data is touched, and woken only after `mu` is dropped.
//  - closed never goes back to false; close claims every waiter left.
#pragma once

#include <atomic>
#include <cstddef>
#include <stdexcept>

#include <fiber/detail/spin_mutex.hpp>
#include <fiber/detail/waitq.hpp>

namespace csp {

/// Thrown by a send on a closed channel, by closing a closed or nil channel
/// (Go's panics of the same names).
class closed_channel_error : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

namespace detail {

enum class op_result { done, not_ready, closed };

/// Something that lives as long as a channel's handles do (a timer's entry
/// in the timer heap): last_handle_gone() runs once the last handle is
/// released, before the channel is freed, so it may still touch the channel.
struct chan_companion {
    virtual void last_handle_gone() noexcept = 0;

protected:
    ~chan_companion() = default;
};

class chan_base {
public:
    explicit chan_base(std::size_t capacity) noexcept : cap(capacity) {}
    virtual ~chan_base() = default;
    chan_base(const chan_base&) = delete;
    chan_base& operator=(const chan_base&) = delete;

    /// Under mu: hands *src (a T) to a blocked receiver or the buffer.
    virtual op_result try_send_locked(void* src, wake_list& wl) noexcept = 0;
    /// Under mu: fills *dst (a std::optional<T>) from a blocked sender or the
    /// buffer; on a closed, drained channel leaves it empty with ok = false.
    virtual op_result try_recv_locked(void* dst, bool& ok, wake_list& wl) noexcept = 0;
    virtual std::size_t buffered_locked() const noexcept = 0;

    void close();
    std::size_t len() noexcept;

    void retain() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept {
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            if (companion) companion->last_handle_gone();
            delete this;
        }
    }

    waitq& queue(bool sending) noexcept { return sending ? sendq : recvq; }

    spin_mutex mu;
    waitq recvq;
    waitq sendq;
    const std::size_t cap;  // what cap() reports: 0 for a timer's channel, which buffers one value
    bool closed = false;
    chan_companion* companion = nullptr;  // set once, before the first handle is copied

private:
    std::atomic<std::size_t> refs_{1};
};

}  // namespace detail
}  // namespace csp
