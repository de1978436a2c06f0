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

}  // namespace csp::detail
