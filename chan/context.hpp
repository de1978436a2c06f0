// csp::context: Go's context package: cancellation and deadlines that flow
// from parent to children, observable as a channel in select.
//
//   auto [ctx, cancel] = csp::with_timeout(csp::background(), 2s);
//   csp::select(csp::case_recv(results, on_result),
//               csp::case_recv(ctx.done(), [&](auto) { fail(ctx.err()); }));
//   cancel();   // always call it; cancelling twice is harmless
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include <chan/chan.hpp>
#include <fiber/deadline.hpp>

namespace csp {

/// Why a context is done: context.Canceled / context.DeadlineExceeded.
enum class context_error { none, canceled, deadline_exceeded };
const char* to_string(context_error e) noexcept;

namespace detail {
struct context_node;
}

class context {
public:
    /// The root context (context.Background): never done, no deadline.
    context() = default;

    /// Closed when the context is cancelled or its deadline passes; the nil
    /// channel for background, so a select case on it never fires.
    recv_chan<unit> done() const;
    /// none while not done; then why.
    context_error err() const noexcept;
    /// The earliest deadline on this context or its ancestors, if any.
    std::optional<std::chrono::steady_clock::time_point> deadline() const noexcept;

private:
    friend class context_access;
    explicit context(std::shared_ptr<detail::context_node> n) : node_(std::move(n)) {}
    std::shared_ptr<detail::context_node> node_;
};

/// Cancels its context and every descendant; safe to call more than once
/// and from any goroutine or thread.
using cancel_func = std::function<void()>;

context background();
std::pair<context, cancel_func> with_cancel(const context& parent);
std::pair<context, cancel_func> with_deadline(const context& parent, std::chrono::steady_clock::time_point d);
/// with_deadline(parent, now + d): any std::chrono::duration, rounded up; one
/// too long to add to now() gives a deadline that never passes.
template <class Rep, class Period>
std::pair<context, cancel_func> with_timeout(const context& parent, std::chrono::duration<Rep, Period> d) {
    return with_deadline(parent, detail::deadline_after(d));
}

}  // namespace csp
