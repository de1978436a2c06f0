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
//  4. Elastic: the shared list takes a burst's worth (the goroutines a
//     fan-out or a tree of them ends at once, for the next burst to find),
//     and gives back what a burst left (Go frees the stacks of its gFree
//     list at each GC): the monitor calls end_idle_surplus() every
//     `trim_window`, which ends the entries beyond `shared_keep` that stayed
//     listed through the whole window (`low`, the fewest listed since the
//     last trim). An ended entry is made ready with no body (ops null): it
//     leaves goroutine_finished and its fiber ends for real (runtime.cpp).
//
// Example (what go.cpp does):
//   if (goroutine* g = take_idle_goroutine()) { build the body at g->body;
//       g->reincarnate(...); make_ready(g->context()); }
#include <fiber/internal/goroutine_pool.hpp>

#include <algorithm>
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
// The shared list's resting size, and its bound while a burst ends (each
// entry holds a stack's touched page, 4 KiB or more: 256 MiB at most, for
// a trim window or a few). Measured on skynet (1.1 M goroutines in a tree,
// up to ~30 k alive): with a bound of 1,024 it took ~300 ms, with 65,536
// ~110-160 ms; the goroutines past the bound end, their stacks go back to
// the stack pool and past its dirty limit to the system, and the next ones
// start fresh, faulting the pages in again.
constexpr std::size_t shared_keep = 1024;
constexpr std::size_t shared_limit = 65536;
// At most this many end per trim (each costs a scheduler thread a few
// microseconds: a resume, Boost's terminate, a stack given back).
constexpr std::size_t trim_batch = 16384;

/// Goroutines linked through next_idle, newest first.
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

/// A scheduler thread's own goroutines (constant-initialized: no TLS
/// guard): `now`, where it lists and takes, and `full`, a whole batch kept
/// for the next spill to the shared list or the next refill of `now`.
/// At most `batch` in each: local_limit in all.
struct thread_idle {
    idle_list now;
    idle_list full;
};
thread_local thread_idle tl_idle;

/// The shared list: a stack of batches (1 to `batch` goroutines each, a
/// thread's spill is a whole one), linked through their first goroutine's
/// next_batch, which also keeps the batch's length (batch_len). Handed over
/// by pointer, never walked under the lock. Why: moving entries one by one
/// reads and writes each one's link, lines another thread wrote last: a
/// cache miss per goroutine, under the lock that every thread's spill and
/// refill takes (at 2 threads, spawn_join's children ending on one thread
/// and its spawner taking on the other waited in this lock, then in
/// sched_yield).
struct shared_pool {
    spin_mutex mu;
    goroutine* batches = nullptr;
    std::size_t count = 0;  // goroutines in all the batches
    std::size_t low = 0;    // the fewest listed since the last trim (invariant 4)
    std::atomic<std::size_t> count_hint{0};  // count, for a look without the lock

    void push_batch(idle_list& b) noexcept {
        if (!b.head) return;
        b.head->next_batch = batches;
        b.head->batch_len = b.count;
        batches = b.head;
        count += b.count;
        b = {};
    }
    idle_list pop_batch() noexcept {
        idle_list b;
        if (goroutine* first = batches) {
            batches = first->next_batch;
            b = {first, first->batch_len};
            count -= b.count;
        }
        return b;
    }
    void published() noexcept {
        count_hint.store(count, std::memory_order_relaxed);
        low = std::min(low, count);
    }
};
shared_pool shared;  // trivially destructible parts only: used until exit
std::atomic<std::size_t> ending{0};  // made ready to end (end_idle_surplus), not yet ended

}  // namespace

goroutine* take_idle_goroutine() noexcept {
    if (!in_goroutine()) {  // a plain thread keeps no list: it may exit with it
        std::lock_guard lk(shared.mu);
        idle_list b = shared.pop_batch();
        goroutine* g = b.pop();
        shared.push_batch(b);  // the rest, a batch one shorter
        shared.published();
        return g;
    }
    thread_idle& mine = tl_idle;
    if (goroutine* g = mine.now.pop()) {
        if (goroutine* next = mine.now.head) next->prefetch_for_reuse();
        return g;
    }
    if (mine.full.count) {
        mine.now = mine.full;
        mine.full = {};
        return mine.now.pop();
    }
    // A hint: a stale read costs one fresh fiber, or one lock for nothing.
    if (shared.count_hint.load(std::memory_order_relaxed) == 0) return nullptr;
    {
        std::lock_guard lk(shared.mu);
        mine.now = shared.pop_batch();
        shared.published();
    }
    return mine.now.pop();
}

bool keep_idle_goroutine(goroutine* self) noexcept {
    thread_idle& mine = tl_idle;
    if (mine.now.count >= batch) {
        if (mine.full.count) {
            // Why only listed entries move: they have switched away already
            // (invariant 1); `self` still runs, and is listed after this.
            std::lock_guard lk(shared.mu);
            if (shared.count + batch > shared_limit) return false;
            shared.push_batch(mine.full);
            shared.published();
        }
        mine.full = mine.now;
        mine.now = {};
    }
    self->retire_to_pool();
    mine.now.push(self);
    return true;
}

void share_idle_goroutines() noexcept {
    thread_idle& mine = tl_idle;
    if (!mine.now.head && !mine.full.head) return;
    // Past the shared limit if need be: parked fibers cannot end from here,
    // and a retired stand-in (the caller) holds at most local_limit.
    std::lock_guard lk(shared.mu);
    shared.push_batch(mine.full);
    shared.push_batch(mine.now);
    shared.published();
}

bool has_idle_surplus() noexcept { return shared.count_hint.load(std::memory_order_relaxed) > shared_keep; }

std::size_t end_idle_surplus(bool unused_only) noexcept {
    goroutine* doomed = nullptr;  // whole batches, linked through next_batch
    std::size_t n = 0;
    {
        std::lock_guard lk(shared.mu);
        const std::size_t listed = unused_only ? std::min(shared.low, shared.count) : shared.count;
        if (listed > shared_keep) {
            std::size_t surplus = listed - shared_keep;
            if (unused_only) surplus = std::min(surplus, trim_batch);
            // Whole batches, moved by pointer: the lock is not held for a
            // walk (a batch's worth past the surplus at most ends too: the
            // next burst refills).
            while (n < surplus) {
                idle_list b = shared.pop_batch();
                if (!b.head) break;
                b.head->next_batch = doomed;
                doomed = b.head;
                n += b.count;
            }
        }
        shared.low = shared.count;  // the next window starts here
        shared.published();
    }
    // Outside the lock: a make_ready takes the global queue's lock and may
    // wake a thread. No body: goroutine_finished lets the fiber end. Every
    // link is read before its goroutine is made ready (it may run at once).
    ending.fetch_add(n, std::memory_order_relaxed);
    while (goroutine* first = doomed) {
        doomed = first->next_batch;
        idle_list b{first, first->batch_len};
        while (goroutine* g = b.pop()) {
            g->ops = nullptr;
            make_ready(g->context());
        }
    }
    return n;
}

void idle_goroutine_ended() noexcept { ending.fetch_sub(1, std::memory_order_release); }

std::size_t idle_goroutines_ending() noexcept { return ending.load(std::memory_order_acquire); }

void return_idle_goroutine(goroutine* g) noexcept {
    std::lock_guard lk(shared.mu);
    idle_list one;
    one.push(g);
    shared.push_batch(one);  // past the limit by one at worst: it cannot end from here
    shared.published();
}

}  // namespace csp::detail
