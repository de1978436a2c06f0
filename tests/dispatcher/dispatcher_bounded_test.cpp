// csp::dispatcher with a bounded queue: backpressure (submit blocks,
// try_submit and submit_for give up), the self-submission rule, and
// shutdown releasing blocked submitters.
#include <atomic>
#include <vector>

#include "dispatcher_test_util.hpp"

namespace csp_test {
namespace {

class DispatcherBounded : public SettingTest {};

/// A one-worker dispatcher whose worker is held by a job at the returned gate.
struct held_dispatcher {
    explicit held_dispatcher(std::size_t limit) : d({.workers = 1, .queue_limit = limit}) {
        csp::chan<csp::unit> started;
        d.submit([started, g = g] {
            started.send(csp::unit{});
            g.wait();
        });
        started.recv();  // taken by the worker: it no longer counts against the limit
    }
    gate g;
    dispatcher d;
};

TEST_P(DispatcherBounded, FullQueueHoldsSubmittersBack) {
    run([this] {
        held_dispatcher h(2);
        auto a = h.d.submit([] { return 1; });
        auto b = h.d.try_submit([] { return 2; });
        ASSERT_TRUE(b.has_value());
        EXPECT_FALSE(h.d.try_submit([] { return 3; }).has_value());
        const auto t0 = steady::now();
        EXPECT_FALSE(h.d.submit_for(10ms, [] { return 4; }).has_value());
        EXPECT_GE(since(t0), 10ms);

        // A blocked submit goes in once a worker takes a job.
        std::atomic<bool> submitted{false};
        task_group client(mode());
        client.go([&] {
            auto c = h.d.submit([] { return 5; });
            submitted = true;
            EXPECT_EQ(c.get(), 5);
        });
        csp::sleep_for(10ms);
        EXPECT_FALSE(submitted);  // still blocked: could fail if the limit leaked
        EXPECT_EQ(h.d.metrics().queued, 2u);
        h.g.open();
        client.wait();
        EXPECT_TRUE(submitted);
        EXPECT_EQ(a.get(), 1);
        EXPECT_EQ(b->get(), 2);
        // All slots are free again.
        for (int i = 0; i < 2; ++i) EXPECT_TRUE(h.d.submit_for(patience, [] {}).has_value());
    });
}

TEST_P(DispatcherBounded, CancelledQueuedJobFreesItsSlot) {
    run([] {
        held_dispatcher h(1);
        auto a = h.d.submit([] {});
        EXPECT_FALSE(h.d.try_submit([] {}).has_value());
        a.cancel();
        EXPECT_TRUE(h.d.try_submit([] {}).has_value());
        h.g.open();
    });
}

TEST_P(DispatcherBounded, JobsSubmittingIntoAFullQueueDoNotDeadlock) {
    run([] {
        held_dispatcher h(1);
        h.d.submit([] {});  // the queue is full now
        h.g.open();
        // Every worker (one) busy in a job that submits many jobs into the
        // full queue and waits for them: admitted over the limit.
        auto parent = h.d.submit([&d = h.d] {
            std::vector<csp::job_handle<int>> kids;
            for (int i = 0; i < 10; ++i) kids.push_back(d.submit([i] { return i; }));
            int sum = 0;
            for (auto& k : kids) sum += k.get();
            return sum;
        });
        ASSERT_TRUE(parent.wait_for(patience)) << csp::goroutine_dump();
        EXPECT_EQ(parent.get(), 45);
    });
}

TEST_P(DispatcherBounded, ShutdownReleasesBlockedSubmitters) {
    run([this] {
        held_dispatcher h(1);
        h.d.submit([] {});
        std::atomic<int> refused{0}, accepted{0};
        task_group clients(mode());
        clients.go_n(2, [&](int) {
            try {
                h.d.submit([] {});
                ++accepted;
            } catch (const csp::dispatcher_error& e) {
                if (e.code() == dispatcher_errc::shut_down) ++refused;
            }
        });
        csp::sleep_for(5ms);  // likely blocked by now; correct either way
        h.g.open();
        EXPECT_TRUE(h.d.shutdown(stop_mode::now, patience));
        clients.wait();
        EXPECT_EQ(refused + accepted, 2);  // each blocked submitter got an answer
        EXPECT_TRUE(throws_code(dispatcher_errc::shut_down, [&] { h.d.try_submit([] {}); }));
    });
}

TEST_P(DispatcherBounded, UnboundedByDefault) {
    run([] {
        dispatcher d(1);
        d.quit_all();
        for (int i = 0; i < 2000; ++i) ASSERT_TRUE(d.try_submit([] {}).has_value());
        EXPECT_EQ(d.metrics().queued, 2000u);
        d.add_workers(2);
        EXPECT_TRUE(d.wait_all_for(patience));
    });
}

CSP_INSTANTIATE_SETTINGS(DispatcherBounded);

}  // namespace
}  // namespace csp_test
