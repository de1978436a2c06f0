// Bounded stress: the timer heap, timed channel operations and the context
// tree under concurrent churn from goroutines and threads.
#include <memory>
#include <vector>

#include <chan/context.hpp>
#include <fiber/sleep.hpp>
#include <chan/time.hpp>

#include "harness/harness.hpp"

namespace csp_test {
namespace {

class Stress : public SettingTest {};

/// Workers and work per worker for a mode: goroutines are cheap, threads not.
struct share {
    int workers, each;
};
share split(setting m, int goroutine_total, int thread_total) {
    if (m == setting::goroutines) return {8, goroutine_total / 8};
    return {4, thread_total / 4};
}

/// One worker's share of the timer churn: batches of timers with deadlines
/// 0-2 ms, half stopped at once, half received. Counts what went wrong.
void timer_churn(int n, std::atomic<int>& fired, std::atomic<int>& bad) {
    constexpr int batch = 250;
    struct entry {
        std::unique_ptr<csp::timer> t;
        steady::time_point earliest;
        bool stopped;
    };
    for (int started = 0; started < n; started += batch) {
        std::vector<entry> es;
        steady::time_point last = steady::now();
        for (int k = 0; k < batch; ++k) {
            const auto d = std::chrono::microseconds(random_between(0, 2000));
            const auto t0 = steady::now();
            auto t = std::make_unique<csp::timer>(d);
            const bool stop = random_between(0, 1) == 1;
            if (stop) t->stop();  // either prevented it, or it fired and stop drained it
            es.push_back({std::move(t), t0 + d, stop});
            last = std::max(last, t0 + d);
        }
        for (auto& e : es) {
            if (e.stopped) continue;
            auto v = e.t->c.recv_for(generous);
            if (!v || *v < e.earliest) bad.fetch_add(1);
            else fired.fetch_add(1);
        }
        csp::sleep_until(last + 3ms);  // past every deadline of the batch
        for (auto& e : es) {
            // Exactly one value per fired timer, none from a stopped one.
            if (e.t->c.try_recv().status != csp::chan_status::would_block) bad.fetch_add(1);
            if (!e.stopped && e.t->stop()) bad.fetch_add(1);  // it fired: nothing to stop
        }
    }
}

TEST_P(Stress, TimersStartedAndStopped) {
    const share s = split(mode(), 100000, 20000);
    std::atomic<int> fired{0}, bad{0};
    run_tasks(mode(), s.workers, [&](int) { timer_churn(s.each, fired, bad); });
    EXPECT_EQ(bad.load(), 0);
    EXPECT_GT(fired.load(), s.workers * s.each / 4);  // about half are received
}

// Several actors reset, stop and receive from one timer at once (Go's timers
// are safe for that): no data race (ThreadSanitizer), and once they are done
// a final stop() is never followed by a value.
TEST_P(Stress, ConcurrentResetAndStopOnOneTimer) {
    constexpr int rounds = 150, ops = 200;
    const int actors = mode() == setting::goroutines ? 6 : 3;
    int late = 0, round = 0;
    std::atomic<int> received{0};
    // Until the receiver has seen a firing too (bounded): how often a timer
    // fires within a round depends on how fast the round goes.
    for (; round < rounds || (received.load() == 0 && round < 10 * rounds); ++round) {
        csp::timer t(std::chrono::microseconds(random_between(0, 300)));
        run_tasks(mode(), actors + 1, [&](int a) {
            for (int k = 0; k < ops; ++k) {
                if (a == actors) {  // the receiver
                    if (t.c.try_recv()) received.fetch_add(1);
                    if (k % 8 == 0) csp::yield();
                } else if (random_between(0, 2) == 0) {
                    t.stop();
                } else {
                    t.reset(std::chrono::microseconds(random_between(0, 300)));
                }
            }
        });
        t.stop();
        csp::sleep_for(1ms);  // past every deadline the actors set
        if (t.c.try_recv()) ++late;
    }
    EXPECT_EQ(late, 0) << "values delivered after a final stop(), in " << round << " rounds";
    EXPECT_GT(received.load(), 0) << "the receiver never saw a firing: the test did not race";
}

// Timer channels dropped while their timer fires on another thread: the
// last handle takes the timer out of the heap, waiting out a firing in
// progress (ASan/TSan watch the lifetimes); a kept one always delivers.
// Plain threads only drop: see the disabled test below for why.
TEST_P(Stress, TimerChannelsDroppedWhileFiring) {
    const share s = split(mode(), 40000, 4000);
    std::atomic<int> lost{0};
    run_tasks(mode(), s.workers, [&, m = mode()](int w) {
        const bool on_thread = task_on_thread(m, w);
        for (int k = 0; k < s.each; ++k) {
            auto c = csp::after(std::chrono::microseconds(random_between(0, 20)));
            if (k % 4 == 0 && !on_thread) {
                if (!c.recv_for(generous)) lost.fetch_add(1);
            } else if (k % 4 == 1) {
                csp::ticker tk(std::chrono::microseconds(random_between(1, 20)));
                if (random_between(0, 1)) csp::yield();
            } else if (random_between(0, 1)) {
                csp::yield();  // now and then the drop meets the firing
            }
        }
    });
    EXPECT_EQ(lost.load(), 0) << "kept after() channels that never delivered";
}

// A timer started from a plain thread while a scheduler thread is between
// reading the next deadline (suspend_until) and parking (park_thread) was
// missed: timer_start found no parked thread to wake, and the thread slept
// until the deadline it had read, for good if the heap was empty. Under TSan
// at CSP_PROCS=1 about every other run lost values; park_thread now reads the
// next deadline again once it is announced parked.
TEST_P(Stress, TimersStartedFromPlainThreadsFire) {
    const share s = split(mode(), 40000, 4000);
    std::atomic<int> lost{0};
    run_tasks(mode(), s.workers, [&](int) {
        for (int k = 0; k < s.each; ++k)
            if (k % 4 == 0) {
                if (!csp::after(std::chrono::microseconds(random_between(0, 20))).recv_for(generous))
                    lost.fetch_add(1);
            } else {
                (void)csp::after(std::chrono::microseconds(random_between(0, 20)));
            }
    });
    EXPECT_EQ(lost.load(), 0) << "after() channels that never delivered";
}

// Unbuffered channel, short random deadlines on both sides: deadlines race
// with partners, and still every value sent is received exactly once.
TEST_P(Stress, TimedSendsAndReceivesConserveValues) {
    const share s = split(mode(), 24000, 8000);
    const int total = s.workers * s.each;
    csp::chan<int> ch;
    std::vector<std::atomic<int>> received(static_cast<std::size_t>(total));
    std::vector<char> sent(static_cast<std::size_t>(total), 0);  // each producer its own slots
    task_group consumers(mode());
    consumers.go_n(s.workers, [&](int) {
        for (;;) {
            auto r = ch.recv_for(std::chrono::microseconds(random_between(0, 100)));
            if (random_between(0, 3) == 0) csp::yield();  // now and then, leave senders waiting
            if (r.status == csp::chan_status::closed) return;
            if (r) received[static_cast<std::size_t>(*r)].fetch_add(1);
        }
    });
    run_tasks(mode(), s.workers, [&](int p) {
        for (int k = 0; k < s.each; ++k) {
            const int v = p * s.each + k;
            if (ch.send_for(v, std::chrono::microseconds(random_between(0, 100))) == csp::chan_status::ok)
                sent[static_cast<std::size_t>(v)] = 1;
        }
    });
    ch.close();
    consumers.wait();
    int mismatches = 0, delivered = 0;
    for (int v = 0; v < total; ++v) {
        delivered += sent[static_cast<std::size_t>(v)];
        if (received[static_cast<std::size_t>(v)].load() != sent[static_cast<std::size_t>(v)]) ++mismatches;
    }
    EXPECT_EQ(mismatches, 0);
    EXPECT_GT(delivered, 0);
}

// Workers grow context chains (cancel and timeout nodes, some cancelled at
// once) under one root while another actor cancels the root: afterwards
// every context is done, for a reason.
TEST_P(Stress, ContextTreeChurnWhileRootIsCancelled) {
    constexpr int rounds = 30, per_worker = 300;
    const share s = split(mode(), 48, 16);
    for (int round = 0; round < rounds; ++round) {
        auto [root, cancel_root] = csp::with_cancel(csp::background());
        std::vector<std::vector<csp::context>> kept(static_cast<std::size_t>(s.workers));
        std::atomic<int> created{0};
        task canceller(mode() != setting::goroutines, [&, cancel = cancel_root] {
            const int when = random_between(0, s.workers * per_worker);
            yield_until([&] { return created.load() >= when; });
            cancel();
        });
        run_tasks(mode(), s.workers, [&, root = root](int w) {
            auto& mine = kept[static_cast<std::size_t>(w)];
            csp::context parent = root;
            for (int k = 0; k < per_worker; ++k) {
                auto [c, cancel] = random_between(0, 2) ? csp::with_cancel(parent)
                                                        : csp::with_timeout(parent, std::chrono::microseconds(
                                                                                        random_between(0, 3000)));
                created.fetch_add(1);
                if (random_between(0, 3) == 0) cancel();
                else if (random_between(0, 1)) parent = c;  // grow the chain
                mine.push_back(c);
            }
        });
        canceller.join();
        int not_done = 0;
        for (auto& mine : kept)
            for (auto& c : mine)
                if (c.done().recv_for(generous).status != csp::chan_status::closed ||
                    c.err() == csp::context_error::none)
                    ++not_done;
        EXPECT_EQ(not_done, 0) << "round " << round;
    }
}

CSP_INSTANTIATE_ALL_SETTINGS(Stress);

}  // namespace
}  // namespace csp_test
