#include <chan/detail/select_engine.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include <fiber/detail/parker.hpp>

namespace csp::detail {

namespace {

using clock = std::chrono::steady_clock;

/// A few elements on the stack, more on the heap: no allocation for the
/// selects people write by hand.
template <class T, int N>
class small_array {
public:
    explicit small_array(int n) : data_(n <= N ? inline_ : (heap_ = std::make_unique<T[]>(n)).get()) {}
    T& operator[](int i) noexcept { return data_[i]; }

private:
    T inline_[N];
    std::unique_ptr<T[]> heap_;
    T* data_;
};

std::uint32_t fast_random() noexcept {
    // Constant-initialized, so reading it needs no thread-local init guard.
    thread_local std::uint64_t s = 0;
    if (s == 0) [[unlikely]]
        s = 0x853c49e6748fea9bull ^ reinterpret_cast<std::uintptr_t>(&s);
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return static_cast<std::uint32_t>(s >> 32);
}

/// The channels of a select, each locked once, in address order (Go's
/// lockorder): two selects over the same channels cannot deadlock.
class lock_set {
public:
    lock_set(select_case* cases, int* order, int n) noexcept : cases_(cases), order_(order), n_(n) {
        // Insertion sort: selects have a handful of cases.
        for (int k = 1; k < n_; ++k) {
            const int i = order_[k];
            int m = k;
            for (; m > 0 && cases[order_[m - 1]].ch > cases[i].ch; --m) order_[m] = order_[m - 1];
            order_[m] = i;
        }
    }
    void lock() noexcept {
        chan_base* prev = nullptr;
        for (int k = 0; k < n_; ++k) {
            chan_base* c = cases_[order_[k]].ch;
            if (c != prev) c->mu.lock();
            prev = c;
        }
    }
    void unlock() noexcept {
        chan_base* prev = nullptr;
        for (int k = n_ - 1; k >= 0; --k) {
            chan_base* c = cases_[order_[k]].ch;
            if (c != prev) c->mu.unlock();
            prev = c;
        }
    }

private:
    select_case* cases_;
    int* order_;
    int n_;
};

/// No case can ever proceed (only nil channels): block forever, or until the
/// deadline, as Go does.
int block_without_cases(const clock::time_point* deadline, wait_reason why) {
    parker p;
    p.reason = why;
    if (deadline) {
        p.park_until(*deadline, [] {});
        return select_timed_out;
    }
    p.park([] {});
    return select_timed_out;  // not reached: nobody can claim p
}

/// Tries one case; its channel's lock is held.
op_result try_case(select_case& c, wake_list& wl) noexcept {
    return c.is_send ? c.ch->try_send_locked(c.data, wl) : c.ch->try_recv_locked(c.data, c.ok, wl);
}

}  // namespace

void throw_send_on_closed() { throw closed_channel_error("send on closed channel"); }

int single_op(select_case& c, bool block, const clock::time_point* deadline) {
    return single_op_with(c, block, deadline, [&c](wake_list& wl) { return try_case(c, wl); });
}

// The claimer already unlinked our waiter: no re-locking after a wake-up.
int single_op_blocked(select_case& c, bool block, const clock::time_point* deadline) {
    chan_base* ch = c.ch;
    if (!block || (deadline && *deadline <= clock::now())) {
        ch->mu.unlock();
        return block ? select_timed_out : select_would_block;
    }
    parker self;
    self.reason = c.is_send ? wait_reason::chan_send : wait_reason::chan_receive;
    self.object = ch;
    // No deadline: only a partner or a close, under ch->mu, can claim us.
    self.sole_claimer = deadline == nullptr;
    waiter w;
    w.owner = &self;
    w.data = c.data;
    waitq& q = ch->queue(c.is_send);
    q.push_back(&w);
    auto unlock = [ch]() noexcept { ch->mu.unlock(); };
    if (deadline && !self.park_until(*deadline, unlock)) {
        std::lock_guard lk(ch->mu);
        q.remove(&w);
        return select_timed_out;
    }
    if (!deadline) self.park(unlock);
    if (!w.success && c.is_send) throw_send_on_closed();  // woken by close
    c.ok = w.success;
    return 0;
}

int select_impl(select_case* cases, int n, bool block, const clock::time_point* deadline) {
    if (n == 1 && cases[0].ch) return single_op(cases[0], block, deadline);
    // Poll order: a random permutation of the non-nil cases, so the choice
    // among ready cases is uniform (Go's pollorder).
    small_array<int, 8> poll(n);
    small_array<int, 8> order(n);
    int active = 0;
    for (int i = 0; i < n; ++i) {
        if (!cases[i].ch) continue;
        // A uniform j in [0, active] by multiply-shift (Lemire), not a division.
        int j = static_cast<int>((std::uint64_t{fast_random()} * static_cast<std::uint32_t>(active + 1)) >> 32);
        poll[active] = poll[j];
        poll[j] = i;
        order[active] = i;
        ++active;
    }
    if (active == 0) {
        if (!block) return select_would_block;
        // A lone nil case is a plain send or receive on a nil channel; no
        // case at all (select {}), or only nil ones, is Go's select (no cases).
        wait_reason why = n != 1            ? wait_reason::select_no_cases
                          : cases[0].is_send ? wait_reason::chan_send_nil
                                             : wait_reason::chan_receive_nil;
        return block_without_cases(deadline, why);
    }

    // First pass, one channel at a time in poll order: a case found ready
    // alone is as good an outcome as one found ready with every channel
    // locked (crossbeam selects this way). Only when none is ready are all
    // the channels locked together, to poll again and queue waiters
    // atomically.
    for (int k = 0; k < active; ++k) {
        select_case& c = cases[poll[k]];
        if (single_op_with(c, false, nullptr, [&c](wake_list& wl) { return try_case(c, wl); }) == 0) return poll[k];
    }
    if (!block) return select_would_block;

    lock_set locks(cases, &order[0], active);
    wake_list wl;
    locks.lock();
    for (int k = 0; k < active; ++k) {
        op_result r = try_case(cases[poll[k]], wl);
        if (r == op_result::not_ready) continue;
        locks.unlock();
        wl.wake_all();  // after the locks are dropped
        if (r == op_result::closed) throw_send_on_closed();
        return poll[k];
    }
    if (!block || (deadline && *deadline <= clock::now())) {
        locks.unlock();
        return block ? select_timed_out : select_would_block;
    }

    // Nothing ready: queue one waiter per case and park. Whoever claims our
    // parker does the transfer for its case and wakes us.
    parker self;
    self.reason = wait_reason::select;
    small_array<waiter, 8> ws(n);
    for (int k = 0; k < active; ++k) {
        int i = order[k];
        waiter& w = ws[i];
        w.owner = &self;
        w.data = cases[i].data;
        w.index = i;
        cases[i].ch->queue(cases[i].is_send).push_back(&w);
    }
    auto unlock = [&locks]() noexcept { locks.unlock(); };
    if (deadline) self.park_until(*deadline, unlock);
    else self.park(unlock);

    const int won = self.claimed();
    // The claimer unlinked the winning waiter; the others are still queued
    // (or were dropped as stale by a channel that met them).
    if (active > 1 || won == parker::aborted) {
        locks.lock();
        for (int k = 0; k < active; ++k) {
            int i = order[k];
            cases[i].ch->queue(cases[i].is_send).remove(&ws[i]);
        }
        locks.unlock();
    }
    if (won == parker::aborted) return select_timed_out;
    const int i = won - 1;
    if (cases[i].is_send) {
        if (!ws[i].success) throw_send_on_closed();  // woken by close
    } else {
        cases[i].ok = ws[i].success;
    }
    return i;
}

}  // namespace csp::detail
