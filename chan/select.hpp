// csp::select: Go's select statement over channels of any element types.
//
//   switch (csp::select(
//       csp::case_recv(jobs, [&](job j) { ... }),                   // case j := <-jobs
//       csp::case_recv(done, [&](int v, bool ok) { ... }),          // case v, ok := <-done
//       csp::case_send(results, std::move(r), [&] { ... }),         // case results <- r
//       csp::case_recv(csp::after(1s), [&] { ... }),                // case <-time.After(1s)
//       csp::case_default([&] { ... })))                            // default
//
// Returns the position of the case that ran. Among ready cases the choice is
// uniformly random; nil channels are never chosen; a receive from a closed
// channel is ready; a send on a closed channel throws closed_channel_error;
// without a default case it blocks until one is ready. select_for(d, ...) /
// select_until(t, ...) give up after d / at t and return std::nullopt then.
// A select with no cases at all blocks forever (Go's select {}).
//
// A receive handler takes one of Go's shapes, chosen by what it can be called
// with (exactly one shape must fit, or it does not compile):
//   []() {...}                      case <-ch
//   [](T v) {...}                   case v := <-ch       (T{} once ch is closed)
//   [](T v, bool ok) {...}          case v, ok := <-ch   (T{}, false once closed)
//   [](std::optional<T> v) {...}    the value, or std::nullopt once closed
// A generic one-parameter handler ([](auto v)) gets std::optional<T>; a
// handler with a declared parameter gets what it declares. The T forms need a
// default-constructible T. Handlers are optional:
// case_recv(ch) keeps the received std::optional<T> in the case's `value`.
//
// What a case refers to:
//  - a channel: a channel variable is referred to (its channel is read when
//    the select runs: keep the variable alive as long as the case); a
//    temporary handle (csp::after(d), ctx.done(), std::move(ch)) is owned by
//    the case, so `auto t = csp::case_recv(csp::after(1s));` is safe.
//  - a send's value: an rvalue of the element type (std::move(x), T{...}) or
//    std::ref(x) is referred to and moved from only by the transfer that
//    completes the case: if another case, a timeout, default or a closed
//    channel wins, x is left as it was. Keep it alive as long as the case (a
//    case built from a temporary T is for the select call it is written in).
//    Anything else (an lvalue, a value to convert, any trivially copyable T
//    such as int) is copied or converted into the case when it is made.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include <chan/chan.hpp>
#include <fiber/deadline.hpp>

namespace csp {

struct no_handler {};

namespace detail {

// ---- What a case holds ------------------------------------------------------

/// A channel variable of the caller, read when the select runs.
template <class H>
struct chan_ref {
    const H* handle;
    chan_base* get() const noexcept { return handle->base(); }
};
/// A channel handle the case owns (keeps the channel alive).
template <class H>
struct chan_own {
    H handle;
    chan_base* get() const noexcept { return handle.base(); }
};
template <class C>
using chan_holder = std::conditional_t<std::is_lvalue_reference_v<C>, chan_ref<std::remove_cvref_t<C>>,
                                       chan_own<std::remove_cvref_t<C>>>;
template <class C>
chan_holder<C> hold_chan(C&& ch) {
    if constexpr (std::is_lvalue_reference_v<C>) return {&ch};
    else return {std::move(ch)};
}

template <class C> struct is_recv_handle : std::false_type {};
template <class T> struct is_recv_handle<chan<T>> : std::true_type {};
template <class T> struct is_recv_handle<recv_chan<T>> : std::true_type {};
template <class C> struct is_send_handle : std::false_type {};
template <class T> struct is_send_handle<chan<T>> : std::true_type {};
template <class T> struct is_send_handle<send_chan<T>> : std::true_type {};

/// The caller's value, moved from only by the transfer that completes the case.
template <class T>
struct value_ref {
    T* object;
    T* get() noexcept { return object; }
};
/// The case's own value (copied or converted from the caller's).
template <class T>
struct value_own {
    T object;
    T* get() noexcept { return &object; }
};

template <class U> struct is_ref_wrapper : std::false_type {};
template <class U> struct is_ref_wrapper<std::reference_wrapper<U>> : std::true_type {};

/// Referred to: std::ref(x), or a non-const rvalue T (U deduced as T) that
/// a move would change. A trivially copyable T is copied instead: moving it
/// leaves the source as it was anyway, and a copy cannot dangle (a case
/// built from a temporary `1` may be kept).
template <class T, class U>
inline constexpr bool refers_to_value =
    (std::is_same_v<U, T> && !std::is_trivially_copyable_v<T>) ||
    std::is_same_v<std::remove_cvref_t<U>, std::reference_wrapper<T>>;
template <class T, class U>
using value_holder = std::conditional_t<refers_to_value<T, U>, value_ref<T>, value_own<T>>;

template <class T, class U>
value_holder<T, U> hold_value(U&& v) {
    static_assert(!std::is_same_v<std::remove_cvref_t<U>, std::reference_wrapper<const T>>,
                  "a send moves from its value: std::ref to a const value cannot be sent, pass a copy");
    if constexpr (is_ref_wrapper<std::remove_cvref_t<U>>::value) return {&v.get()};
    else if constexpr (refers_to_value<T, U>) return {&v};
    else return {T(std::forward<U>(v))};
}

// ---- Receive handlers ----------------------------------------------------------

/// The one parameter of a handler with a single, non-template call operator
/// (or of a function pointer); `void` when unknown (generic lambdas).
template <class F> struct sole_param { using type = void; };
template <class R, class A> struct sole_param<R (*)(A)> { using type = A; };
template <class R, class A> struct sole_param<R (*)(A) noexcept> { using type = A; };
template <class R, class K, class A> struct sole_param<R (K::*)(A)> { using type = A; };
template <class R, class K, class A> struct sole_param<R (K::*)(A) const> { using type = A; };
template <class R, class K, class A> struct sole_param<R (K::*)(A) noexcept> { using type = A; };
template <class R, class K, class A> struct sole_param<R (K::*)(A) const noexcept> { using type = A; };
template <class F>
    requires requires { &F::operator(); }
struct sole_param<F> : sole_param<decltype(&F::operator())> {};

enum class recv_shape { nothing, optional, value, value_ok };

// Which shape a receive handler has. Probing a generic handler with T would
// instantiate its body with T (a hard error if the body expects an optional),
// so a generic one-parameter handler is probed with std::optional<T> only;
// a handler with one declared parameter is read from that parameter.
template <class T, class F>
constexpr recv_shape recv_shape_of() {
    if constexpr (std::is_same_v<F, no_handler>) {
        return recv_shape::nothing;
    } else {
        using P = typename sole_param<F>::type;  // void: generic, overloaded, or not one parameter
        constexpr bool none = std::is_invocable_v<F&>;
        constexpr bool val_ok = std::is_invocable_v<F&, T&&, bool>;
        // std::conjunction, not &&: it does not instantiate what follows a false.
        constexpr bool generic_opt = std::conjunction_v<std::is_void<P>, std::is_invocable<F&, std::optional<T>&&>>;
        constexpr bool declared_opt = std::is_same_v<std::remove_cvref_t<P>, std::optional<T>>;
        constexpr bool declared_val = std::conjunction_v<std::negation<std::is_void<P>>, std::bool_constant<!declared_opt>,
                                                         std::is_invocable<F&, T&&>>;
        static_assert(int{none} + int{generic_opt || declared_opt} + int{declared_val} + int{val_ok} == 1,
                      "a receive handler takes exactly one of: (), (T), (T, bool), (std::optional<T>)");
        if constexpr (none) return recv_shape::nothing;
        else if constexpr (val_ok) return recv_shape::value_ok;
        else if constexpr (declared_val) return recv_shape::value;
        else return recv_shape::optional;
    }
}

template <class T, class F>
void call_recv_handler(F& f, std::optional<T>& v) {
    constexpr recv_shape shape = recv_shape_of<T, F>();
    if constexpr (shape == recv_shape::nothing) {
        if constexpr (!std::is_same_v<F, no_handler>) f();
    } else if constexpr (shape == recv_shape::optional) {
        f(std::move(v));
    } else {
        static_assert(std::is_default_constructible_v<T>,
                      "a handler taking T gets T{} once the channel is closed: T must be default-constructible "
                      "(take std::optional<T> instead)");
        const bool ok = v.has_value();
        if constexpr (shape == recv_shape::value) f(ok ? std::move(*v) : T{});
        else f(ok ? std::move(*v) : T{}, ok);
    }
}

template <class F>
void call_plain_handler(F& f) {
    if constexpr (!std::is_same_v<F, no_handler>) {
        static_assert(std::is_invocable_v<F&>, "a send or default handler takes no arguments");
        f();
    }
}

}  // namespace detail

/// A receive case (see case_recv). `value` holds what arrived (std::nullopt:
/// the channel was closed) until a handler takes it.
template <class T, class F, class Ch>
struct recv_case {
    Ch ch;
    F handler;
    std::optional<T> value{};

    detail::chan_base* channel() const noexcept { return ch.get(); }
    void* data() noexcept { return &value; }
    static constexpr bool sending = false;
    void finish() { detail::call_recv_handler<T>(handler, value); }
};

/// A send case (see case_send): the value is moved out only if this case runs.
template <class T, class F, class Ch, class V>
struct send_case {
    Ch ch;
    F handler;
    V value;

    detail::chan_base* channel() const noexcept { return ch.get(); }
    void* data() noexcept { return value.get(); }
    static constexpr bool sending = true;
    void finish() { detail::call_plain_handler(handler); }
};

/// `default:`.
template <class F = no_handler>
struct default_case {
    F handler;
};

/// `case <-ch` in one of Go's shapes (see the handler forms above); `ch` is a
/// chan<T> or recv_chan<T>.
template <class C, class F = no_handler>
    requires detail::is_recv_handle<std::remove_cvref_t<C>>::value
auto case_recv(C&& ch, F handler = {}) {
    using T = typename std::remove_cvref_t<C>::value_type;
    return recv_case<T, F, detail::chan_holder<C>>{detail::hold_chan(std::forward<C>(ch)), std::move(handler)};
}

/// `case ch <- v`; `ch` is a chan<T> or send_chan<T>. `v` is referred to
/// (std::move(x), a T temporary, std::ref(x)) or copied/converted (anything
/// else): see the top of this file.
template <class C, class U, class F = no_handler>
    requires detail::is_send_handle<std::remove_cvref_t<C>>::value
auto case_send(C&& ch, U&& v, F handler = {}) {
    using T = typename std::remove_cvref_t<C>::value_type;
    return send_case<T, F, detail::chan_holder<C>, detail::value_holder<T, U>>{
        detail::hold_chan(std::forward<C>(ch)), std::move(handler), detail::hold_value<T>(std::forward<U>(v))};
}

template <class F = no_handler>
default_case<F> case_default(F handler = {}) {
    return {std::move(handler)};
}

namespace detail {

template <class C> struct is_default : std::false_type {};
template <class F> struct is_default<default_case<F>> : std::true_type {};

inline constexpr int select_no_case_ran = -1;

template <class... C>
int run_cases(const std::chrono::steady_clock::time_point* deadline, C&... cases) {
    constexpr int n_default = (0 + ... + (is_default<std::remove_cv_t<C>>::value ? 1 : 0));
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
                raw[k] = select_case{c.channel(), c.data(), CT::sending, false};
                position[k++] = pos;
            }
            ++pos;
        };
        (add(cases), ...);
    }
    const int r = select_impl(raw, n, n_default == 0, deadline);
    if (r == select_would_block) {
        auto run_default = [](auto& c) {
            if constexpr (is_default<std::remove_cvref_t<decltype(c)>>::value) call_plain_handler(c.handler);
        };
        (run_default(cases), ...);
        return default_position;
    }
    if constexpr (n == 0) {
        return select_no_case_ran;  // only a default: it ran, or the wait timed out
    } else {
        if (r == select_timed_out) return select_no_case_ran;
        // Run the chosen case's handler.
        int pos = 0;
        auto finish = [&](auto& c) {
            if constexpr (!is_default<std::remove_cvref_t<decltype(c)>>::value) {
                if (pos == position[r]) c.finish();
            }
            ++pos;
        };
        (finish(cases), ...);
        return position[r];
    }
}

template <class... C>
int run_select(const std::chrono::steady_clock::time_point* deadline, C&... cases) {
    if constexpr (sizeof...(C) == 0) {
        // select {}: blocks forever (or until the deadline); the engine lists
        // it as "select (no cases)", as Go does.
        select_impl(nullptr, 0, true, deadline);
        return select_no_case_ran;
    } else {
        return run_cases(deadline, cases...);
    }
}

template <class... C>
std::optional<int> run_select_until(std::chrono::steady_clock::time_point deadline, C&... cases) {
    const int r = run_select(&deadline, cases...);
    if (r == select_no_case_ran) return std::nullopt;
    return r;
}

}  // namespace detail

/// Runs the select; returns the position (0-based, in argument order) of the
/// case that ran, default included. With no cases at all it blocks forever.
template <class... C>
int select(C&&... cases) {
    return detail::run_select(nullptr, cases...);
}

/// A select that gives up at `deadline`: returns std::nullopt then (no case
/// ran), else the position of the case that ran.
template <class... C>
std::optional<int> select_until(std::chrono::steady_clock::time_point deadline, C&&... cases) {
    return detail::run_select_until(deadline, cases...);
}

/// A select that gives up after `d` (any std::chrono::duration, rounded up;
/// one too long to add to now() never gives up): std::nullopt then.
template <class Rep, class Period, class... C>
std::optional<int> select_for(std::chrono::duration<Rep, Period> d, C&&... cases) {
    return detail::run_select_until(detail::deadline_after(d), cases...);
}

}  // namespace csp
