// csp::blocking(ctx, f): fiber/blocking.hpp's blocking call, given up by the
// waiting goroutine when a context is done. Here, not in fiber/, because
// contexts live in chan/ (chan depends on fiber, never the reverse).
//
//   auto [ctx, cancel] = csp::with_timeout(csp::background(), 2s);
//   std::optional<std::string> page = csp::blocking(ctx, [url] { return http_get(url); });
//   if (!page) log("gave up: ", ctx.err() == csp::context_error::deadline_exceeded ? "timeout" : "cancelled");
//   cancel();
#pragma once

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include <chan/chan.hpp>
#include <chan/context.hpp>
#include <chan/select.hpp>
#include <fiber/blocking.hpp>

namespace csp {

namespace detail {

/// What a cancellable blocking call hands back through its channel.
template <class R>
struct blocking_outcome {
    blocking_result<R> result;
    std::exception_ptr error;
};

/// A cancellable call on the pool: owns f (it may outlive the caller, who
/// may have given up) and the channel the outcome goes to; frees itself.
template <class F, class R>
struct owned_blocking_job : blocking_job {
    F fn;
    chan<blocking_outcome<R>> out;

    owned_blocking_job(F f, chan<blocking_outcome<R>> c) : fn(std::move(f)), out(std::move(c)) {
        run = [](blocking_job* b) noexcept {
            auto* self = static_cast<owned_blocking_job*>(b);
            blocking_outcome<R> o;
            try {
                o.result.store(self->fn);
            } catch (...) {
                o.error = std::current_exception();
            }
            self->out.try_send(std::move(o));  // room for one: never blocks; dropped if nobody waits
            delete self;
        };
    }
};

}  // namespace detail

/// Calls f() on a thread of the blocking pool, as csp::blocking(f), but the
/// caller stops waiting when `ctx` is done first: then it returns nullopt
/// (false for a void f) and f runs on to its end, its result discarded. A
/// result or an exception from f that comes first is returned or rethrown.
/// f is moved onto the pool (it may outlive the caller: capture by value).
/// On a plain thread, calls f() unless ctx is done already.
template <class F>
auto blocking(const context& ctx, F f) {
    using R = std::invoke_result_t<F&>;
    static_assert(!std::is_reference_v<R>, "csp::blocking(ctx, f): f may outlive the caller; return a value");
    using result_t = std::conditional_t<std::is_void_v<R>, bool, std::optional<R>>;
    if (ctx.err() != context_error::none) return result_t{};
    if (detail::blocking_runs_inline()) {
        if constexpr (std::is_void_v<R>) {
            f();
            return true;
        } else {
            return result_t{f()};
        }
    }
    chan<detail::blocking_outcome<R>> out(1);
    detail::blocking_submit(new detail::owned_blocking_job<F, R>(std::move(f), out));
    std::optional<detail::blocking_outcome<R>> got;
    select(case_recv(out, [&](std::optional<detail::blocking_outcome<R>> o) { got = std::move(o); }),
           case_recv(ctx.done()));
    if (!got) return result_t{};
    if (got->error) std::rethrow_exception(got->error);
    if constexpr (std::is_void_v<R>) return true;
    else return result_t{got->result.take()};
}

}  // namespace csp
