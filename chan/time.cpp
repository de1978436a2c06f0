#include <chan/time.hpp>

#include <atomic>
#include <stdexcept>
#include <string>

#include <fiber/internal/timer_node.hpp>

namespace csp::detail {

// A timer's channel (capacity 1) and its heap node. Reference counted: the
// handle holds one reference, the heap another while the node is armed.
struct timer_state : timer_node {
    chan<time_point> ch{1};
    std::atomic<int> refs{1};

    void ref() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }
    void unref() noexcept {
        if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }
    void arm(time_point at, duration every) {
        when = at;
        period = every;
        ref();  // the heap's
        timer_start(this);
    }
    void drain() noexcept { (void)ch.try_recv(); }
};

namespace {
void send_time(timer_node* n) noexcept {
    // Never blocks: a value nobody took yet makes this tick drop (Go).
    (void)static_cast<timer_state*>(n)->ch.try_send(clock::now());
}
void drop_heap_ref(timer_node* n) noexcept { static_cast<timer_state*>(n)->unref(); }
}  // namespace

timer_handle::timer_handle(time_point when, duration period) : s_(new timer_state) {
    s_->fire = send_time;
    s_->release = drop_heap_ref;
    s_->arm(when, period);
}

timer_handle::~timer_handle() { s_->unref(); }

recv_chan<time_point> timer_handle::channel() const { return s_->ch; }

bool timer_handle::stop() noexcept {
    const bool was_armed = timer_stop(s_);
    if (was_armed) s_->unref();  // the heap let go without firing
    s_->drain();
    return was_armed;
}

bool timer_handle::reset(time_point when, duration period) {
    const bool was_armed = stop();
    s_->arm(when, period);
    return was_armed;
}

recv_chan<time_point> after_deadline(time_point when) { return timer_handle(when, duration::zero()).channel(); }

recv_chan<time_point> tick_every(duration period) { return timer_handle(deadline_after(period), period).channel(); }

duration checked_period(duration rounded, const char* who) {
    if (rounded <= duration::zero()) throw std::invalid_argument(std::string(who) + ": non-positive interval");
    return rounded;
}

}  // namespace csp::detail
