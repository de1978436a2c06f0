// Context tree: each cancellable context is a node holding its done channel,
// its error, and its children. Cancelling a node cancels the children, then
// closes its own channel: whoever sees a context done sees every descendant
// done too. A child registers with its nearest cancellable ancestor and
// leaves it again when cancelled (no leak of finished children).
#include <chan/context.hpp>

#include <mutex>
#include <unordered_map>

#include <fiber/detail/spin_mutex.hpp>
#include <fiber/internal/timer_node.hpp>

namespace csp {

namespace detail {

struct context_node : std::enable_shared_from_this<context_node> {
    chan<unit> done_ch{0};
    std::optional<clock::time_point> deadline;
    std::weak_ptr<context_node> parent;

    spin_mutex mu;
    context_error err = context_error::none;
    std::unordered_map<context_node*, std::shared_ptr<context_node>> children;  // O(1) forget

    // Deadline timer: holds the node alive while armed.
    struct deadline_timer : timer_node {
        context_node* owner;
        std::shared_ptr<context_node> keep;
    } timer;

    /// `from_timer`: called by the deadline timer itself, which must not
    /// wait for its own firing to end.
    void cancel(context_error why, bool from_timer = false) {
        std::unordered_map<context_node*, std::shared_ptr<context_node>> kids;
        {
            std::lock_guard lk(mu);
            if (err != context_error::none) return;
            err = why;
            kids.swap(children);
        }
        // Children first: a goroutine woken by our done channel must find
        // them cancelled already (Go closes first, leaving that a race).
        for (auto& [raw, k] : kids) k->cancel(why);
        done_ch.close();
        if (auto p = parent.lock()) p->forget(this);
        if (deadline && !from_timer && timer_stop(&timer)) timer.keep.reset();
    }

    void forget(context_node* child) {
        std::lock_guard lk(mu);
        children.erase(child);
    }

    /// Registers `child` to be cancelled with this node; false if this node
    /// is already done (the child must then be cancelled by the caller).
    bool adopt(const std::shared_ptr<context_node>& child) {
        std::lock_guard lk(mu);
        if (err != context_error::none) return false;
        children.emplace(child.get(), child);
        return true;
    }
};

namespace {
void deadline_fired(timer_node* n) noexcept {
    auto* t = static_cast<context_node::deadline_timer*>(n);
    t->owner->cancel(context_error::deadline_exceeded, true);
}
void deadline_released(timer_node* n) noexcept { static_cast<context_node::deadline_timer*>(n)->keep.reset(); }
}  // namespace

}  // namespace detail

class context_access {
public:
    static const std::shared_ptr<detail::context_node>& node(const context& c) { return c.node_; }
    static context make(std::shared_ptr<detail::context_node> n) { return context(std::move(n)); }
};

const char* to_string(context_error e) noexcept {
    switch (e) {
        case context_error::none: return "none";
        case context_error::canceled: return "context canceled";
        case context_error::deadline_exceeded: return "context deadline exceeded";
    }
    return "unknown";
}

recv_chan<unit> context::done() const { return node_ ? recv_chan<unit>(node_->done_ch) : recv_chan<unit>(); }

context_error context::err() const noexcept {
    if (!node_) return context_error::none;
    std::lock_guard lk(node_->mu);
    return node_->err;
}

std::optional<std::chrono::steady_clock::time_point> context::deadline() const noexcept {
    return node_ ? node_->deadline : std::nullopt;
}

context background() { return context(); }

namespace {

std::pair<context, cancel_func> make_child(const context& parent,
                                           std::optional<std::chrono::steady_clock::time_point> d) {
    const auto& p = context_access::node(parent);
    if (p && p->deadline && (!d || *p->deadline < *d)) d = p->deadline;  // never later than the parent's
    auto n = std::make_shared<detail::context_node>();
    n->deadline = d;
    n->parent = p;
    if (d && !detail::is_never(*d)) {  // a deadline that never passes needs no timer
        n->timer.owner = n.get();
        n->timer.keep = n;  // until the timer fires or is stopped
        n->timer.when = *d;
        n->timer.fire = detail::deadline_fired;
        n->timer.release = detail::deadline_released;
        detail::timer_start(&n->timer);
    }
    if (p && !p->adopt(n)) n->cancel(parent.err());
    std::weak_ptr<detail::context_node> weak = n;
    cancel_func cancel = [weak] {
        if (auto s = weak.lock()) s->cancel(context_error::canceled);
    };
    return {context_access::make(std::move(n)), std::move(cancel)};
}

}  // namespace

std::pair<context, cancel_func> with_cancel(const context& parent) { return make_child(parent, std::nullopt); }

std::pair<context, cancel_func> with_deadline(const context& parent, std::chrono::steady_clock::time_point d) {
    return make_child(parent, d);
}

}  // namespace csp
