#include <chan/detail/chan_base.hpp>

#include <mutex>

namespace csp::detail {

void chan_base::close() {
    wake_list wl;
    {
        std::lock_guard lk(mu);
        if (closed) throw closed_channel_error("close of closed channel");
        closed = true;
        // Blocked receivers get "closed" (the buffer is empty if any wait);
        // blocked senders get closed_channel_error.
        recvq.claim_all(wl, false);
        sendq.claim_all(wl, false);
    }
    wl.wake_all();
}

std::size_t chan_base::len() noexcept {
    // A timer's channel keeps its value inside but presents as unbuffered.
    if (cap == 0) return 0;
    std::lock_guard lk(mu);
    return buffered_locked();
}

}  // namespace csp::detail
