// The shared timer heap: a binary min-heap on `when`, each node knowing its
// index so that stop() is O(log n). Callbacks run outside the lock.
#include <fiber/internal/runtime.hpp>

namespace csp::detail {

namespace {
/// Wakes the scheduler threads parked until a deadline (none if every
/// parked one sleeps for good: the common case costs two loads).
void wake_timed_sleepers() noexcept {
    runtime* rt = runtime::if_started();
    if (!rt || static_cast<std::size_t>(rt->idle.load(std::memory_order_seq_cst)) ==
                   rt->idle_forever.load(std::memory_order_seq_cst))
        return;
    for (std::size_t i = 0; i < rt->size(); ++i) (void)rt->at(i).unpark();
}
}  // namespace

void timer_heap::publish_next() noexcept {
    next_.store(heap_.empty() ? never : heap_.front()->when.time_since_epoch().count(),
                std::memory_order_release);
}

void timer_heap::sift_up(std::size_t i) noexcept {
    timer_node* n = heap_[i];
    while (i > 0) {
        std::size_t parent = (i - 1) / 2;
        if (heap_[parent]->when <= n->when) break;
        heap_[i] = heap_[parent];
        heap_[i]->heap_index = i;
        i = parent;
    }
    heap_[i] = n;
    n->heap_index = i;
}

void timer_heap::sift_down(std::size_t i) noexcept {
    timer_node* n = heap_[i];
    const std::size_t size = heap_.size();
    for (;;) {
        std::size_t child = 2 * i + 1;
        if (child >= size) break;
        if (child + 1 < size && heap_[child + 1]->when < heap_[child]->when) ++child;
        if (n->when <= heap_[child]->when) break;
        heap_[i] = heap_[child];
        heap_[i]->heap_index = i;
        i = child;
    }
    heap_[i] = n;
    n->heap_index = i;
}

void timer_heap::push(timer_node* n) {
    n->status.store(timer_node::armed, std::memory_order_relaxed);
    heap_.push_back(n);
    sift_up(heap_.size() - 1);
}

void timer_heap::erase(std::size_t i) noexcept {
    timer_node* n = heap_[i];
    timer_node* last = heap_.back();
    heap_.pop_back();
    n->heap_index = static_cast<std::size_t>(-1);
    if (n != last) {
        heap_[i] = last;
        last->heap_index = i;
        sift_down(i);
        sift_up(last->heap_index);
    }
}

void timer_heap::start(timer_node* n) {
    bool earliest;
    {
        std::lock_guard lk(mu_);
        n->stop_requested = false;
        push(n);
        earliest = heap_.front() == n;
        publish_next();
    }
    // A parked scheduler thread sleeps until the old earliest deadline: wake
    // one to look again.
    if (earliest) {
        runtime& rt = runtime::get();
        for (std::size_t i = 0; i < rt.size(); ++i)
            if (rt.at(i).unpark()) break;
    }
}

bool timer_heap::stop(timer_node* n) noexcept {
    {
        std::unique_lock lk(mu_);
        int s = n->status.load(std::memory_order_relaxed);
        if (s == timer_node::armed) {
            erase(n->heap_index);
            n->status.store(timer_node::idle, std::memory_order_relaxed);
            publish_next();
            const bool now_empty = next_.load(std::memory_order_relaxed) == never;  // "never" timers do not count
            lk.unlock();
            // The last timer gone: a scheduler thread asleep until its
            // deadline must park for good instead, so that a deadlock is
            // reported now rather than when the dropped timer would have fired.
            if (now_empty) wake_timed_sleepers();
            return true;
        }
        if (s == timer_node::idle) return false;
        n->stop_requested = true;  // running: don't re-arm a ticker
    }
    // Firing on another thread right now: wait until it lets go of the node.
    while (n->status.load(std::memory_order_acquire) == timer_node::running) spin_pause();
    return false;
}

std::size_t timer_heap::run_due(clock::time_point now) noexcept {
    std::size_t fired = 0;
    for (;;) {
        timer_node* n;
        {
            std::lock_guard lk(mu_);
            if (heap_.empty() || heap_.front()->when > now) return fired;
            n = heap_.front();
            erase(0);
            n->status.store(timer_node::running, std::memory_order_relaxed);
            publish_next();
        }
        n->fire(n);
        ++fired;
        bool released;
        // Read before the node goes idle: its owner may free it right after.
        void (*release)(timer_node*) noexcept = n->release;
        {
            std::lock_guard lk(mu_);
            released = n->period <= clock::duration::zero() || n->stop_requested;
            if (released) {
                n->status.store(timer_node::idle, std::memory_order_release);
            } else {
                n->when += n->period;
                if (n->when < now) n->when = now + n->period;  // a slow receiver: drop missed ticks
                push(n);
                publish_next();
            }
        }
        if (released && release) release(n);
    }
}

void timer_start(timer_node* node) { runtime::get().timers.start(node); }

bool timer_stop(timer_node* node) noexcept {
    runtime* rt = runtime::if_started();
    return rt ? rt->timers.stop(node) : false;
}

}  // namespace csp::detail
