// timer_node: one entry of the runtime's shared timer heap. No thread or
// fiber per timer: scheduler threads fire due timers between fibers and
// sleep until the earliest one when idle (Go's per-P timer heap, shared here).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>

namespace csp::detail {

using clock = std::chrono::steady_clock;

struct timer_node {
    enum status_t : int { idle, armed, running };

    clock::time_point when{};
    clock::duration period{0};                    // > 0: re-armed after each firing (a ticker)
    void (*fire)(timer_node*) noexcept = nullptr;  // runs on a scheduler thread, must not block
    void (*release)(timer_node*) noexcept = nullptr;  // called when the heap lets go of the node

    // Owned by the heap (read and written under its lock).
    std::size_t heap_index = static_cast<std::size_t>(-1);
    bool stop_requested = false;
    std::atomic<int> status{idle};
};

/// Arms `node` to fire at node->when. The node must be idle.
void timer_start(timer_node* node);

/// Disarms `node`. Returns true if it was armed and will not fire; false if
/// it had already fired or is firing now, in which case it waits until the
/// firing is over, so the caller may free the node when this returns.
bool timer_stop(timer_node* node) noexcept;

}  // namespace csp::detail
