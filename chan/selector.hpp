// csp::selector: a select whose cases are built at run time (Go's
// reflect.Select, crossbeam's Select).
//
//   csp::selector sel;
//   for (auto& c : inputs) sel.add_recv(c);
//   std::size_t i = sel.select();               // blocks
//   std::optional<int> v = sel.take<int>(i);    // the value case i received
//
// A selector may be run many times; each run re-arms every case (a send case
// sends its value again only if it has one: set it with set_send_value).
// select_for / select_until / try_select return std::nullopt when no case ran
// (timeout, or nothing ready), like csp::select_for / select_until.
//
// A send case's value: add_send(ch, v) keeps the selector's own copy of v
// (moved from an rvalue): a run that picks another case, times out or finds
// nothing ready leaves it in the selector for the next run.
// add_send(ch, std::ref(x)) refers to x instead (keep x alive): x is moved
// from only by the transfer that completes the case, and left as it was
// otherwise.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include <chan/chan.hpp>
#include <fiber/deadline.hpp>

namespace csp {

class selector {
public:
    selector() = default;
    selector(const selector&) = delete;
    selector& operator=(const selector&) = delete;
    ~selector();

    /// Adds `case <-ch`; returns the case's index.
    template <class T>
    std::size_t add_recv(const recv_chan<T>& ch) {
        return add(std::make_unique<recv_slot<T>>(), ch.base(), false);
    }
    template <class T>
    std::size_t add_recv(const chan<T>& ch) {
        return add_recv(recv_chan<T>(ch));
    }
    /// Adds `case ch <- v` (v: a value the selector keeps, or std::ref(x));
    /// returns the case's index.
    template <class T, class U>
    std::size_t add_send(const send_chan<T>& ch, U&& v) {
        auto s = std::make_unique<send_slot<T>>();
        s->set(std::forward<U>(v));
        return add(std::move(s), ch.base(), true);
    }
    template <class T, class U>
    std::size_t add_send(const chan<T>& ch, U&& v) {
        return add_send(send_chan<T>(ch), std::forward<U>(v));
    }

    /// Blocks until one case runs; returns its index.
    std::size_t select() { return static_cast<std::size_t>(run(true, nullptr)); }
    /// Runs a ready case if there is one (a select with default).
    std::optional<std::size_t> try_select() { return result(run(false, nullptr)); }
    /// Gives up at `t`, or after `d` (any std::chrono::duration, rounded up;
    /// one too long to add to now() never gives up): std::nullopt then.
    std::optional<std::size_t> select_until(std::chrono::steady_clock::time_point t) { return result(run(true, &t)); }
    template <class Rep, class Period>
    std::optional<std::size_t> select_for(std::chrono::duration<Rep, Period> d) {
        return select_until(detail::deadline_after(d));
    }

    /// After a receive case ran: its value (std::nullopt: channel closed).
    template <class T>
    std::optional<T> take(std::size_t index) {
        auto* s = dynamic_cast<recv_slot<T>*>(slots_.at(index).get());
        if (!s) throw std::invalid_argument("selector::take: case is not a receive of this type");
        return std::move(s->value);
    }
    /// After a case ran: false if it was a receive that found the channel closed.
    bool ok(std::size_t index) const { return cases_.at(index).ok; }
    /// Gives send case `index` a new value (or std::ref(x)) to send on the
    /// next run.
    template <class T, class U>
    void set_send_value(std::size_t index, U&& v) {
        auto* s = dynamic_cast<send_slot<T>*>(slots_.at(index).get());
        if (!s) throw std::invalid_argument("selector::set_send_value: case is not a send of this type");
        s->set(std::forward<U>(v));
    }
    /// Disables a case (Go: sets its channel to nil), or enables it again.
    void disable(std::size_t index) { cases_.at(index).ch = nullptr; }
    void enable(std::size_t index) { cases_.at(index).ch = owned_.at(index); }
    std::size_t size() const noexcept { return cases_.size(); }

private:
    struct slot {
        virtual ~slot() = default;
        virtual void* data() noexcept = 0;
        virtual bool ready() const noexcept { return true; }
        virtual void consumed() noexcept {}
    };
    template <class T>
    struct recv_slot final : slot {
        std::optional<T> value;
        void* data() noexcept override {
            value.reset();
            return &value;
        }
    };
    // `value` points at `own` or at the caller's object (std::ref); null
    // once sent.
    template <class T>
    struct send_slot final : slot {
        std::optional<T> own;
        T* value = nullptr;

        template <class U>
        void set(U&& v) {
            using V = std::remove_cvref_t<U>;
            if constexpr (std::is_same_v<V, std::reference_wrapper<T>>) {
                own.reset();
                value = &v.get();
            } else {
                static_assert(!std::is_same_v<V, std::reference_wrapper<const T>>,
                              "a send moves from its value: std::ref to a const value cannot be sent");
                value = &own.emplace(std::forward<U>(v));
            }
        }
        void* data() noexcept override { return value; }
        bool ready() const noexcept override { return value != nullptr; }
        void consumed() noexcept override {
            value = nullptr;
            own.reset();
        }
    };

    std::size_t add(std::unique_ptr<slot> s, detail::chan_base* ch, bool sending);
    int run(bool block, const std::chrono::steady_clock::time_point* deadline);
    static std::optional<std::size_t> result(int r) {
        if (r < 0) return std::nullopt;
        return static_cast<std::size_t>(r);
    }

    std::vector<std::unique_ptr<slot>> slots_;
    std::vector<detail::select_case> cases_;
    std::vector<detail::chan_base*> owned_;  // one reference each, released by ~selector
    std::vector<detail::select_case> armed_;
};

}  // namespace csp
