// Timers as channels, with Go 1.23's semantics.
//
// Invariants:
//  - A timer's channel holds at most one value, internally: it reports
//    cap() == len() == 0 (chan_base::cap is 0, the ring has one slot), so
//    to its users it is an unbuffered channel that is ready once the timer
//    fired.
//  - timer_state lives exactly as long as the channel: it is the channel's
//    companion, freed when the last handle goes (a case object and a handle
//    held by a blocked select count). Before freeing, the timer leaves the
//    heap, so a timer nobody can receive from any more neither fires nor
//    postpones the deadlock report (Go 1.23: unreferenced timers don't count).
//  - The heap holds a raw pointer to an armed node; firing never takes a
//    handle (it sends through the channel state under its lock), so the
//    last handle can never be dropped by the firing itself.
//  - stop() and reset() run under the timer's own lock, one at a time (Go's
//    timer lock). timer_stop waits for a firing in progress to end, and the
//    drain after it takes back a value fired but not yet received: once they
//    return, no stale value can be received. (Go 1.23 discards a send racing
//    with reset by a sequence number because its stop does not wait for the
//    send; ours does, so the drain alone gives the same guarantee.)
//  - The firing callback never takes the timer's lock, so waiting for it
//    under that lock cannot deadlock.
#include <chan/time.hpp>

#include <mutex>
#include <stdexcept>
#include <string>

#include <fiber/detail/spin_mutex.hpp>
#include <fiber/internal/timer_node.hpp>

namespace csp::detail {

struct timer_state final : timer_node, chan_companion {
    // The channel this timer belongs to: not a handle (the channel's life
    // decides the timer's, not the other way round).
    chan_state<time_point>* ch;
    spin_mutex mu;  // stop/reset/arm, one at a time

    explicit timer_state(const chan<time_point>& c) : ch(static_cast<chan_state<time_point>*>(c.base())) {
        fire = send_time;
        ch->companion = this;  // before any copy of the handle exists
    }

    void arm(time_point at, duration every) {
        when = at;
        period = every;
        timer_start(this);
    }

    /// Under mu. Out of the heap, firing over, stale value dropped; true if
    /// the value had not been received (Go 1.23's stop result).
    bool stop_locked() noexcept {
        const bool was_armed = timer_stop(this);  // waits for a firing in progress
        return drain() || was_armed;
    }

    bool drain() noexcept {
        std::optional<time_point> stale;
        bool ok = false;
        wake_list wl;  // stays empty: nobody sends to a timer's channel
        std::lock_guard lk(ch->mu);
        return ch->try_recv_locked(&stale, ok, wl) == op_result::done && ok;
    }

    void last_handle_gone() noexcept override {
        // Nobody can receive any more: leave the heap (waiting out a firing
        // in progress, which still touches the channel), then go.
        (void)timer_stop(this);
        delete this;
    }

    // Runs on a scheduler thread. Never blocks: a value nobody took yet makes
    // this tick drop (a slow ticker receiver misses ticks, as in Go).
    static void send_time(timer_node* n) noexcept {
        chan_state<time_point>* ch = static_cast<timer_state*>(n)->ch;
        time_point now = clock::now();
        wake_list wl;  // wakes a waiting receiver after the lock is dropped
        std::lock_guard lk(ch->mu);
        (void)ch->try_send_locked(&now, wl);
    }
};

timer_handle::timer_handle(time_point when, duration period) : ch_(timer_channel_tag{}), s_(new timer_state(ch_)) {
    s_->arm(when, period);
}

timer_handle::~timer_handle() = default;

recv_chan<time_point> timer_handle::channel() const { return ch_; }

bool timer_handle::stop() noexcept {
    std::lock_guard lk(s_->mu);
    return s_->stop_locked();
}

bool timer_handle::reset(time_point when, duration period) {
    std::lock_guard lk(s_->mu);
    const bool pending = s_->stop_locked();
    s_->arm(when, period);
    return pending;
}

recv_chan<time_point> after_deadline(time_point when) { return timer_handle(when, duration::zero()).channel(); }

recv_chan<time_point> tick_every(duration period) { return timer_handle(deadline_after(period), period).channel(); }

duration checked_period(duration rounded, const char* who) {
    if (rounded <= duration::zero()) throw std::invalid_argument(std::string(who) + ": non-positive interval");
    return rounded;
}

}  // namespace csp::detail
