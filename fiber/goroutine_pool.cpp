// Ended goroutines whose fibers wait for the next go() (Go's gFree lists):
// a spawn that finds one builds its body in place and makes it ready; no
// Boost fiber is built (a stack switch there and back), none terminated and
// freed (two more switches and the scheduler fiber's turn).
//
// Invariants
//  1. A fiber in a list has switched away (until a go() makes it ready
//     again): it parks right after it lists itself, on its own thread's
//     list, which only that thread reads or changes, and nothing runs on
//     that thread in between. The shared list only takes fibers from
//     thread lists (never the running one), or from a spawn that took one
//     and could not use it.
//  2. A listed goroutine is retired from the registry (dumps skip it) and
//     its body area is free (its last body was moved out before it ran).
//  3. Bounded: a thread keeps at most `local_limit`, the shared list
//     `shared_limit` (plus what a retiring stand-in hands over, at most
//     `local_limit` each, and a fiber a failed go() returns); a goroutine
//     that finds both full ends for real.
//
// Example (what go.cpp does):
//   if (goroutine* g = take_idle_goroutine()) { build the body at g->body;
//       g->reincarnate(...); make_ready(g->context()); }
#include <fiber/internal/goroutine_pool.hpp>

#include <atomic>
#include <cstddef>
#include <mutex>

#include <fiber/detail/spin_mutex.hpp>
#include <fiber/internal/goroutine.hpp>
#include <fiber/internal/sched.hpp>

namespace csp::detail {

namespace {

// Go keeps 64 per P and moves 32 at a time; a batch of a thousand spawns
// that all end before the next batch (a fan-out, a worker pool's round)
// should find its fibers again, so ours are larger.
constexpr std::size_t local_limit = 256;
constexpr std::size_t batch = local_limit / 2;
constexpr std::size_t shared_limit = 1024;

struct idle_list {
    goroutine* head = nullptr;
    std::size_t count = 0;

    void push(goroutine* g) noexcept {
        g->next_idle = head;
        head = g;
        ++count;
    }
    goroutine* pop() noexcept {
        goroutine* g = head;
        if (g) {
            head = g->next_idle;
            --count;
        }
        return g;
    }
};

/// Moves up to `n` entries from the front of `from` to the front of `to`.
void move_entries(idle_list& from, idle_list& to, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i) {
        goroutine* g = from.pop();
        if (!g) return;
        to.push(g);
    }
}

// A scheduler thread's own list (constant-initialized: no TLS guard).
thread_local idle_list tl_idle;

struct shared_pool {
    spin_mutex mu;
    idle_list list;
    std::atomic<std::size_t> count_hint{0};  // list.count, for a look without the lock

    void published() noexcept { count_hint.store(list.count, std::memory_order_relaxed); }
};
shared_pool shared;  // trivially destructible parts only: used until exit

}  // namespace

goroutine* take_idle_goroutine() noexcept {
    if (!in_goroutine()) {  // a plain thread keeps no list: it may exit with it
        std::lock_guard lk(shared.mu);
        goroutine* g = shared.list.pop();
        shared.published();
        return g;
    }
    idle_list& mine = tl_idle;
    if (goroutine* g = mine.pop()) return g;
    // A hint: a stale read costs one fresh fiber, or one lock for nothing.
    if (shared.count_hint.load(std::memory_order_relaxed) == 0) return nullptr;
    std::lock_guard lk(shared.mu);
    move_entries(shared.list, mine, batch);
    shared.published();
    return mine.pop();
}

bool keep_idle_goroutine(goroutine* self) noexcept {
    idle_list& mine = tl_idle;
    if (mine.count >= local_limit) {
        // Why only listed entries move: they have switched away already
        // (invariant 1); `self` still runs, and is listed after this.
        std::lock_guard lk(shared.mu);
        if (shared.list.count + batch > shared_limit) return false;
        move_entries(mine, shared.list, batch);
        shared.published();
    }
    self->retire_to_pool();
    mine.push(self);
    return true;
}

void share_idle_goroutines() noexcept {
    idle_list& mine = tl_idle;
    if (!mine.head) return;
    // Past the shared limit if need be: parked fibers cannot end from here,
    // and a retired stand-in (the caller) holds at most local_limit.
    std::lock_guard lk(shared.mu);
    move_entries(mine, shared.list, mine.count);
    shared.published();
}

void return_idle_goroutine(goroutine* g) noexcept {
    std::lock_guard lk(shared.mu);
    shared.list.push(g);  // past the limit by one at worst: it cannot end from here
    shared.published();
}

}  // namespace csp::detail
