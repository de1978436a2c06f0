// csp::chan<T>: Go's channels.
//
//   csp::chan<int> ch;          // make(chan int): unbuffered
//   csp::chan<int> jobs(100);   // make(chan int, 100)
//   ch.send(42);                // ch <- 42
//   std::optional<int> v = ch.recv();   // v, ok := <-ch  (ok == v.has_value())
//   int x = ch.recv_or_zero();  // x := <-ch  (0 once ch is closed)
//   ch.close();                 // close(ch)
//   for (int x : jobs) { ... }  // for x := range jobs
//   csp::chan<int> off = nullptr;   // var off chan int (nil)
//
// A chan is a handle: copies refer to the same channel. Every operation
// works from goroutines on any scheduler thread and from plain threads
// (which block their thread).
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include <chan/detail/chan_state.hpp>
#include <chan/detail/select_engine.hpp>
#include <fiber/deadline.hpp>

namespace csp {

/// Go's struct{}: the element type of channels that only signal.
struct unit {
    friend bool operator==(unit, unit) noexcept { return true; }
};

/// Outcome of a non-blocking or timed channel operation.
enum class chan_status {
    ok,           // sent, or received a value
    closed,       // receive: the channel is closed and drained
    would_block,  // try_*: not ready now
    timeout,      // *_for / *_until: the deadline passed first
};

/// Result of try_recv / recv_for / recv_until: the value if status == ok.
template <class T>
struct recv_result {
    std::optional<T> value;
    chan_status status = chan_status::would_block;

    explicit operator bool() const noexcept { return status == chan_status::ok; }
    T& operator*() & { return *value; }
    T&& operator*() && { return std::move(*value); }
    T* operator->() { return &*value; }
};

template <class T> class send_chan;
template <class T> class recv_chan;

template <class T>
class chan {
public:
    using value_type = T;

    /// An unbuffered channel (make(chan T)).
    chan() : chan(std::size_t{0}) {}
    /// A channel with room for `capacity` values (make(chan T, capacity));
    /// 0 is unbuffered; a negative capacity throws std::invalid_argument (Go
    /// panics). Any integer type (a template, so that `chan(0)` is not
    /// ambiguous with the nil channel's nullptr).
    template <std::integral I>
    explicit chan(I capacity) : state_(new detail::chan_state<T>(checked_capacity(capacity))) {}
    /// The nil channel (var ch chan T): sends and receives block forever,
    /// select never picks it. `csp::chan<T> ch = nullptr;`, `ch = nullptr;`.
    chan(std::nullptr_t) noexcept {}
    static chan nil() noexcept { return chan(nullptr); }
    /// For csp's timers only: room for one value, yet cap() and len() are 0
    /// (Go 1.23's timer channels present as unbuffered).
    explicit chan(detail::timer_channel_tag) : state_(new detail::chan_state<T>(0, 1)) {}

    chan(const chan& o) noexcept : state_(o.state_) {
        if (state_) state_->retain();
    }
    chan(chan&& o) noexcept : state_(std::exchange(o.state_, nullptr)) {}
    chan& operator=(chan o) noexcept {
        std::swap(state_, o.state_);
        return *this;
    }
    ~chan() {
        if (state_) state_->release();
    }

    /// Sends v, blocking until a receiver or buffer slot takes it. Throws
    /// closed_channel_error if the channel is (or gets) closed; the value is
    /// then left untouched.
    template <class U = T>
        requires std::is_constructible_v<T, U&&>
    void send(U&& v) const {
        with_value(std::forward<U>(v), [this](T& x) { run_send(x, true, nullptr); });
    }

    /// Receives a value; std::nullopt once the channel is closed and drained
    /// (Go's v, ok := <-ch).
    std::optional<T> recv() const {
        std::optional<T> out;
        run_recv(out, true, nullptr);
        return out;
    }

    /// Go's v := <-ch: receives a value; T{} (Go's zero value) once the
    /// channel is closed and drained. (`*ch.recv()` on a closed channel is
    /// undefined behaviour: use this.)
    T recv_or_zero() const
        requires std::default_initializable<T>
    {
        std::optional<T> v = recv();
        return v ? std::move(*v) : T{};
    }

    /// Sends only if that can happen now; returns false otherwise (the value
    /// is not consumed). Throws closed_channel_error on a closed channel.
    template <class U = T>
        requires std::is_constructible_v<T, U&&>
    bool try_send(U&& v) const {
        bool sent = false;
        with_value(std::forward<U>(v), [&](T& x) { sent = run_send(x, false, nullptr) >= 0; });
        return sent;
    }

    /// Receives only if a value (or the close) is there now.
    recv_result<T> try_recv() const {
        recv_result<T> r;
        r.status = run_recv(r.value, false, nullptr);
        return r;
    }

    /// send with a deadline: chan_status::ok or chan_status::timeout.
    template <class U = T>
        requires std::is_constructible_v<T, U&&>
    chan_status send_until(U&& v, std::chrono::steady_clock::time_point deadline) const {
        chan_status st = chan_status::timeout;
        with_value(std::forward<U>(v),
                   [&](T& x) { st = run_send(x, true, &deadline) >= 0 ? chan_status::ok : chan_status::timeout; });
        return st;
    }
    /// send with a timeout: any std::chrono::duration, rounded up to the
    /// clock's tick; one too long to add to now() never times out.
    template <class U, class Rep, class Period>
    chan_status send_for(U&& v, std::chrono::duration<Rep, Period> d) const {
        return send_until(std::forward<U>(v), detail::deadline_after(d));
    }

    /// recv with a deadline: ok with the value, closed, or timeout.
    recv_result<T> recv_until(std::chrono::steady_clock::time_point deadline) const {
        recv_result<T> r;
        r.status = run_recv(r.value, true, &deadline);
        return r;
    }
    /// recv with a timeout (any duration, as send_for).
    template <class Rep, class Period>
    recv_result<T> recv_for(std::chrono::duration<Rep, Period> d) const {
        return recv_until(detail::deadline_after(d));
    }

    /// Closes the channel: receivers drain what is buffered, then see
    /// "closed"; blocked and later senders get closed_channel_error.
    /// Closing a closed or nil channel throws closed_channel_error.
    void close() const {
        if (!state_) throw closed_channel_error("close of nil channel");
        state_->close();
    }

    /// Values buffered now (len(ch)); capacity (cap(ch)).
    std::size_t len() const noexcept { return state_ ? state_->len() : 0; }
    std::size_t cap() const noexcept { return state_ ? state_->cap : 0; }
    bool is_nil() const noexcept { return state_ == nullptr; }
    chan& operator=(std::nullptr_t) noexcept { return *this = chan(nullptr); }

    /// Same channel (Go's ==); `ch == nullptr`: ch is the nil channel.
    friend bool operator==(const chan& a, const chan& b) noexcept { return a.state_ == b.state_; }
    friend bool operator==(const chan& a, std::nullptr_t) noexcept { return a.state_ == nullptr; }

    /// for (T v : ch): receives until the channel is closed and drained.
    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = T;
        using difference_type = std::ptrdiff_t;
        using pointer = T*;
        using reference = T&;

        iterator() = default;
        explicit iterator(const chan* c) : c_(c) { ++*this; }
        T& operator*() { return *v_; }
        T* operator->() { return &*v_; }
        iterator& operator++() {
            v_ = c_->recv();
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept { return !it.v_; }

    private:
        const chan* c_ = nullptr;
        std::optional<T> v_;
    };
    iterator begin() const { return iterator(this); }
    std::default_sentinel_t end() const noexcept { return {}; }

    /// For select: the type-erased channel.
    detail::chan_base* base() const noexcept { return state_; }

private:
    template <class I>
    static std::size_t checked_capacity(I capacity) {
        if constexpr (std::is_signed_v<I>)
            if (capacity < 0) throw std::invalid_argument("csp::chan: negative capacity");
        return static_cast<std::size_t>(capacity);
    }

    // Moves from the caller's value only when it is an rvalue T; anything
    // else is converted into a temporary first. Either way the caller's
    // object is consumed only by a successful send.
    template <class U, class F>
    static void with_value(U&& v, F&& f) {
        if constexpr (std::is_same_v<std::remove_cvref_t<U>, T> && !std::is_lvalue_reference_v<U> &&
                      !std::is_const_v<std::remove_reference_t<U>>) {
            f(v);
        } else {
            T tmp(std::forward<U>(v));
            f(tmp);
        }
    }

    // The fast path is inlined here, typed (see single_op_with); only a case
    // that must wait calls into the engine.
    int run_send(T& v, bool block, const std::chrono::steady_clock::time_point* deadline) const {
        detail::select_case c{state_, &v, true, false};
        if (!state_) return detail::select_impl(&c, 1, block, deadline);
        return detail::single_op_with(c, block, deadline,
                                      [s = state_, &v](detail::wake_list& wl) { return s->try_send_locked(&v, wl); });
    }

    chan_status run_recv(std::optional<T>& out, bool block,
                         const std::chrono::steady_clock::time_point* deadline) const {
        detail::select_case c{state_, &out, false, false};
        const int r = !state_ ? detail::select_impl(&c, 1, block, deadline)
                              : detail::single_op_with(c, block, deadline, [s = state_, &out, &c](detail::wake_list& wl) {
                                    return s->try_recv_locked(&out, c.ok, wl);
                                });
        if (r == detail::select_would_block) return chan_status::would_block;
        if (r == detail::select_timed_out) return chan_status::timeout;
        return c.ok ? chan_status::ok : chan_status::closed;
    }

    detail::chan_state<T>* state_ = nullptr;
};

/// A send-only view of a channel (Go's chan<- T): converts implicitly from
/// chan<T>; receiving through it does not compile.
template <class T>
class send_chan {
public:
    using value_type = T;

    send_chan() noexcept = default;
    send_chan(std::nullptr_t) noexcept {}
    send_chan(chan<T> c) noexcept : c_(std::move(c)) {}
    send_chan& operator=(std::nullptr_t) noexcept { return *this = send_chan(nullptr); }

    template <class U = T> void send(U&& v) const { c_.send(std::forward<U>(v)); }
    template <class U = T> bool try_send(U&& v) const { return c_.try_send(std::forward<U>(v)); }
    template <class U, class Rep, class Period>
    chan_status send_for(U&& v, std::chrono::duration<Rep, Period> d) const {
        return c_.send_for(std::forward<U>(v), d);
    }
    template <class U>
    chan_status send_until(U&& v, std::chrono::steady_clock::time_point t) const {
        return c_.send_until(std::forward<U>(v), t);
    }
    void close() const { c_.close(); }
    std::size_t len() const noexcept { return c_.len(); }
    std::size_t cap() const noexcept { return c_.cap(); }
    bool is_nil() const noexcept { return c_.is_nil(); }
    detail::chan_base* base() const noexcept { return c_.base(); }
    friend bool operator==(const send_chan& a, const send_chan& b) noexcept { return a.c_ == b.c_; }
    friend bool operator==(const send_chan& a, std::nullptr_t) noexcept { return a.c_ == nullptr; }

private:
    chan<T> c_ = nullptr;
};

/// A receive-only view of a channel (Go's <-chan T): converts implicitly
/// from chan<T>; sending or closing through it does not compile.
template <class T>
class recv_chan {
public:
    using value_type = T;

    recv_chan() noexcept = default;
    recv_chan(std::nullptr_t) noexcept {}
    recv_chan(chan<T> c) noexcept : c_(std::move(c)) {}
    recv_chan& operator=(std::nullptr_t) noexcept { return *this = recv_chan(nullptr); }

    std::optional<T> recv() const { return c_.recv(); }
    T recv_or_zero() const
        requires std::default_initializable<T>
    {
        return c_.recv_or_zero();
    }
    recv_result<T> try_recv() const { return c_.try_recv(); }
    template <class Rep, class Period>
    recv_result<T> recv_for(std::chrono::duration<Rep, Period> d) const { return c_.recv_for(d); }
    recv_result<T> recv_until(std::chrono::steady_clock::time_point t) const { return c_.recv_until(t); }
    std::size_t len() const noexcept { return c_.len(); }
    std::size_t cap() const noexcept { return c_.cap(); }
    bool is_nil() const noexcept { return c_.is_nil(); }
    typename chan<T>::iterator begin() const { return c_.begin(); }
    std::default_sentinel_t end() const noexcept { return {}; }
    detail::chan_base* base() const noexcept { return c_.base(); }
    friend bool operator==(const recv_chan& a, const recv_chan& b) noexcept { return a.c_ == b.c_; }
    friend bool operator==(const recv_chan& a, std::nullptr_t) noexcept { return a.c_ == nullptr; }

private:
    chan<T> c_ = nullptr;
};

}  // namespace csp
