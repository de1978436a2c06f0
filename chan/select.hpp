// csp::select: Go's select statement over channels of any element types.
//
//   switch (csp::select(
//       csp::case_recv(jobs, [&](std::optional<job> j) { ... }),   // case j, ok := <-jobs
//       csp::case_send(results, r, [&] { ... }),                    // case results <- r
//       csp::case_recv(csp::after(1s), [&](auto) { ... }),          // case <-time.After(1s)
//       csp::case_default([&] { ... })))                            // default
//
// Returns the position of the case that ran. Among ready cases the choice is
// uniformly random; nil channels are never chosen; a receive from a closed
// channel is ready (with std::nullopt); a send on a closed channel throws
// closed_channel_error; without a default case it blocks until one is ready.
// Handlers are optional: case_recv(ch) keeps the value in the case object.
#pragma once

#include <chrono>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include <chan/chan.hpp>

namespace csp {

struct no_handler {};

namespace detail {

template <class F, class... A>
void call_handler(F& f, A&&... a) {
    if constexpr (std::is_same_v<F, no_handler>) {
    } else if constexpr (std::is_invocable_v<F&, A&&...>) {
        f(std::forward<A>(a)...);
    } else {
        static_assert(std::is_invocable_v<F&>, "handler must take the received std::optional<T>, or nothing");
        f();
    }
}

}  // namespace detail

/// `case v, ok := <-ch`: the handler gets std::optional<T> (empty: closed).
template <class T, class F = no_handler>
struct recv_case {
    detail::chan_base* ch;
    F handler;
    std::optional<T> value{};

    void* data() noexcept { return &value; }
    static constexpr bool sending = false;
    void finish(bool /*ok*/) { detail::call_handler(handler, std::move(value)); }
};

/// `case ch <- v`: the value is moved out only if this case runs.
template <class T, class F = no_handler>
struct send_case {
    detail::chan_base* ch;
    F handler;
    T value;

    void* data() noexcept { return &value; }
    static constexpr bool sending = true;
    void finish(bool) { detail::call_handler(handler); }
};

/// `default:`.
template <class F = no_handler>
struct default_case {
    F handler;
};

template <class T, class F = no_handler>
recv_case<T, F> case_recv(const recv_chan<T>& ch, F handler = {}) {
    return {ch.base(), std::move(handler)};
}
template <class T, class F = no_handler>
recv_case<T, F> case_recv(const chan<T>& ch, F handler = {}) {
    return {ch.base(), std::move(handler)};
}
template <class T, class U, class F = no_handler>
send_case<T, F> case_send(const send_chan<T>& ch, U&& v, F handler = {}) {
    return {ch.base(), std::move(handler), T(std::forward<U>(v))};
}
template <class T, class U, class F = no_handler>
send_case<T, F> case_send(const chan<T>& ch, U&& v, F handler = {}) {
    return {ch.base(), std::move(handler), T(std::forward<U>(v))};
}
template <class F = no_handler>
default_case<F> case_default(F handler = {}) {
    return {std::move(handler)};
}

namespace detail {

template <class C> struct is_default : std::false_type {};
template <class F> struct is_default<default_case<F>> : std::true_type {};

template <class C>
void call_default(C& c) {
    if constexpr (is_default<C>::value) call_handler(c.handler);
}

template <class... C>
int run_select(const std::chrono::steady_clock::time_point* deadline, C&... cases) {
    constexpr int n_default = (0 + ... + (is_default<C>::value ? 1 : 0));
    static_assert(n_default <= 1, "a select has at most one default case");
    constexpr int n = static_cast<int>(sizeof...(C)) - n_default;

    // Channel cases in argument order, with their positions.
    select_case raw[n > 0 ? n : 1];
    int position[n > 0 ? n : 1];
    int default_position = -1;
    {
        int k = 0, pos = 0;
        auto add = [&](auto& c) {
            using CT = std::remove_cvref_t<decltype(c)>;
            if constexpr (is_default<CT>::value) {
                default_position = pos;
            } else {
                raw[k] = select_case{c.ch, c.data(), CT::sending, false};
                position[k++] = pos;
            }
            ++pos;
        };
        (add(cases), ...);
    }
    const int r = select_impl(raw, n, n_default == 0, deadline);
    if (r == select_would_block) {
        (call_default(cases), ...);
        return default_position;
    }
    if (r == select_timed_out) return -1;
    // Run the chosen case's handler.
    int pos = 0;
    auto finish = [&](auto& c) {
        using CT = std::remove_cvref_t<decltype(c)>;
        if constexpr (!is_default<CT>::value) {
            if (pos == position[r]) c.finish(raw[r].ok);
        }
        ++pos;
    };
    (finish(cases), ...);
    return position[r];
}

}  // namespace detail

/// Runs the select; returns the position (0-based, in argument order) of the
/// case that ran, default included.
template <class... C>
int select(C&&... cases) {
    return detail::run_select(nullptr, cases...);
}

/// A select that gives up at `deadline`: returns -1 then (no case ran).
template <class... C>
int select_until(std::chrono::steady_clock::time_point deadline, C&&... cases) {
    return detail::run_select(&deadline, cases...);
}

}  // namespace csp
