// Context tree: each cancellable context is a node holding its done channel,
// its error, and its children. Cancelling a node cancels the children, then
// closes its own channel: whoever sees a context done sees every descendant
// done too. A child registers with its nearest cancellable ancestor and
// leaves it again when cancelled (no leak of finished children).
//
// Invariants:
//  - Nothing here recurses over the tree: a chain of 10,000 contexts is
//    cancelled (and destroyed) with a work list, from a goroutine's small
//    stack, a plain thread or the deadline timer alike (Go handles such
//    chains; recursion overflowed a goroutine stack at a few hundred).
//  - err goes from none to a reason once, under mu; whoever does that owns
//    the node's cancellation: it takes the children out of the map (so
//    nobody else reaches them through it) and closes done_ch, exactly once.
//  - A node with a deadline that is not "never" has its timer armed, holding
//    the node (keep), until it fires or a cancel stops it.
#include <chan/context.hpp>

#include <mutex>
#include <unordered_map>
#include <vector>

#include <fiber/detail/spin_mutex.hpp>
#include <fiber/internal/timer_node.hpp>

namespace csp {

namespace detail {

struct context_node : std::enable_shared_from_this<context_node> {
    using child_map = std::unordered_map<context_node*, std::shared_ptr<context_node>>;  // O(1) forget

    chan<unit> done_ch{0};
    std::optional<clock::time_point> deadline;
    std::weak_ptr<context_node> parent;

    spin_mutex mu;
    context_error err = context_error::none;
    child_map children;

    // Deadline timer (fire is set once it is started): holds the node alive
    // while armed.
    struct deadline_timer : timer_node {
        context_node* owner;
        std::shared_ptr<context_node> keep;
    } timer;

    context_node() = default;
    context_node(const context_node&) = delete;
    context_node& operator=(const context_node&) = delete;

    /// Children still registered when the last handle goes (nobody called
    /// cancel): released one at a time by the outermost destructor on this
    /// thread, instead of each destructor recursing into its children's.
    ~context_node() {
        thread_local std::vector<std::shared_ptr<context_node>>* dropping = nullptr;
        if (children.empty()) return;
        if (dropping) {  // an outer destructor on this thread releases them
            for (auto& [raw, k] : children) dropping->push_back(std::move(k));
            return;
        }
        std::vector<std::shared_ptr<context_node>> list;
        for (auto& [raw, k] : children) list.push_back(std::move(k));
        dropping = &list;
        while (!list.empty()) {
            // Why move out first: the destructor this may run appends to list.
            std::shared_ptr<context_node> k = std::move(list.back());
            list.pop_back();
            k.reset();
        }
        dropping = nullptr;
    }

    /// Cancels this node and its whole subtree, iteratively. `from_timer`:
    /// called by this node's own deadline timer, which must not wait for
    /// its own firing to end.
    void cancel(context_error why, bool from_timer = false) {
        // No allocation for a node without children (the common cancel).
        std::vector<std::shared_ptr<context_node>> pending;  // taken from a claimed parent, not yet claimed
        std::vector<std::shared_ptr<context_node>> claimed;  // descendants, parents before children
        if (!claim(why, pending)) return;
        while (!pending.empty()) {
            std::shared_ptr<context_node> k = std::move(pending.back());
            pending.pop_back();
            // Already claimed by its own cancel or timer: that one finishes it.
            if (k->claim(why, pending)) claimed.push_back(std::move(k));
        }
        // Children first: a goroutine woken by a done channel must find every
        // descendant cancelled already (Go closes first, leaving that a race).
        // Every node was claimed before its descendants, so close in reverse.
        for (auto it = claimed.rbegin(); it != claimed.rend(); ++it) (*it)->done_ch.close();
        done_ch.close();
        // Only this node leaves its parent: a descendant's parent was claimed
        // here and its map emptied.
        if (auto p = parent.lock()) p->forget(this);
        if (!from_timer) stop_timer();
        for (auto& k : claimed) k->stop_timer();
    }

    /// Stops the deadline timer if it is armed, letting go of the node.
    void stop_timer() noexcept {
        if (timer.fire && timer_stop(&timer)) timer.keep.reset();
    }

    /// Sets err (first time only) and moves the children to `out`; false if
    /// the node was cancelled already.
    bool claim(context_error why, std::vector<std::shared_ptr<context_node>>& out) {
        child_map kids;
        {
            std::lock_guard lk(mu);
            if (err != context_error::none) return false;
            err = why;
            kids.swap(children);
        }
        for (auto& [raw, k] : kids) out.push_back(std::move(k));
        return true;
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
    // Never later than the parent's deadline; when that one comes first, the
    // parent's cancellation reaches this node and it needs no timer of its
    // own (Go: WithCancel then), so a deep tree under one deadline has one timer.
    bool own_timer = d.has_value();
    if (p && p->deadline && (!d || *p->deadline <= *d)) {
        d = p->deadline;
        own_timer = false;
    }
    auto n = std::make_shared<detail::context_node>();
    n->deadline = d;
    n->parent = p;
    const bool expired = own_timer && *d <= detail::clock::now();
    const bool timed = own_timer && !expired && !detail::is_never(*d);  // "never" needs no timer
    if (timed) {
        // Set before the node is adopted: from then on, a canceller on another
        // thread reads them.
        n->timer.owner = n.get();
        n->timer.keep = n;  // until the timer fires or is stopped
        n->timer.when = *d;
        n->timer.fire = detail::deadline_fired;
        n->timer.release = detail::deadline_released;
    }
    if (p && !p->adopt(n)) {
        n->cancel(parent.err());
        n->timer.keep.reset();  // never started
    } else if (expired) {
        n->cancel(context_error::deadline_exceeded);  // Go: done when with_deadline returns
    } else if (timed) {
        // Started after the adoption, so that a timer firing at once finds
        // the node registered. A parent's cancel may have come in between:
        // its timer_stop found the timer idle, so stop it here (whichever
        // stop finds it armed lets go of `keep`).
        detail::timer_start(&n->timer);
        if (context_access::make(n).err() != context_error::none) n->stop_timer();
    }
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
