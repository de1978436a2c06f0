// The one engine behind every channel operation: a plain send or receive is
// a select with one case. Go's selectgo, in outline:
//   1. lock every channel of the select, in address order;
//   2. poll the cases in a random order, take the first that can proceed;
//   3. otherwise (unless non-blocking) queue a waiter on every channel,
//      park, and let the partner that claims us do the transfer;
//   4. on waking, take our other waiters out again.
#pragma once

#include <chrono>

#include <chan/detail/chan_base.hpp>

namespace csp::detail {

struct select_case {
    chan_base* ch = nullptr;  // null: a nil channel, never ready
    void* data = nullptr;     // send: T* to move from; receive: std::optional<T>* to fill
    bool is_send = false;
    bool ok = false;          // receive: a value arrived (false: closed and drained)
};

inline constexpr int select_would_block = -1;
inline constexpr int select_timed_out = -2;

/// Runs one select over `cases[0..n)`. Returns the index of the case that
/// completed; select_would_block if `block` is false and none was ready;
/// select_timed_out if `deadline` passed first. Throws closed_channel_error
/// when the chosen case sends on a closed channel.
int select_impl(select_case* cases, int n, bool block,
                const std::chrono::steady_clock::time_point* deadline);

/// select_impl for one case on a non-nil channel (a plain send or receive):
/// no arrays, no shuffling, no re-locking. Returns 0 or the same negatives.
int single_op(select_case& c, bool block, const std::chrono::steady_clock::time_point* deadline);

/// single_op's second half: `c.ch->mu` is held and the case was not ready.
/// Drops the lock; returns select_would_block or select_timed_out, or 0 once
/// a partner completed the case (c.ok set).
int single_op_blocked(select_case& c, bool block, const std::chrono::steady_clock::time_point* deadline);

[[noreturn]] void throw_send_on_closed();

/// single_op's first half, inlined: lock, try, unlock, wake. `try_locked(wl)`
/// is the case's try_send_locked or try_recv_locked; chan<T> passes a typed
/// one (chan_state<T> is final, so it is a direct call), single_op the
/// type-erased one.
template <class Try>
[[gnu::always_inline]] inline int single_op_with(select_case& c, bool block,
                                                 const std::chrono::steady_clock::time_point* deadline,
                                                 Try&& try_locked) {
    wake_list wl;
    c.ch->mu.lock();
    const op_result r = try_locked(wl);
    if (r == op_result::not_ready) return single_op_blocked(c, block, deadline);
    c.ch->mu.unlock();
    wl.wake_all();  // Go's rule: never wake while holding the channel's lock
    if (r == op_result::closed) throw_send_on_closed();
    return 0;
}

}  // namespace csp::detail
