// csp::dispatcher: behaviour of the core API, with its clients as
// goroutines (on one or two scheduler threads) and as plain threads.
#include <algorithm>
#include <atomic>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <chan/context.hpp>
#include <chan/select.hpp>
#include <chan/time.hpp>

#include "dispatcher_test_util.hpp"

namespace csp_test {
namespace {

class Dispatcher : public SettingTest {};

TEST_P(Dispatcher, SubmitRunsCallablesOfEveryShape) {
    run([] {
        dispatcher d(2);
        auto value = d.submit([] { return 6 * 7; });
        std::atomic<bool> ran{false};
        auto nothing = d.submit([&ran] { ran = true; });
        auto with_ctx = d.submit([](const csp::context& ctx) { return ctx.err() == csp::context_error::none; });
        auto text = d.submit([] { return std::string("job"); }, {.name = "named"});
        EXPECT_EQ(value.get(), 42);
        nothing.get();
        EXPECT_TRUE(ran);
        EXPECT_TRUE(with_ctx.get());
        EXPECT_EQ(text.get(), "job");
        EXPECT_EQ(text.get(), "job");  // get() again: the same value
        EXPECT_EQ(std::set<csp::job_id>({value.id(), nothing.id(), with_ctx.id(), text.id()}).size(), 4u);

        const csp::job_info i = d.info(text.id());
        EXPECT_EQ(i.state, job_state::succeeded);
        EXPECT_EQ(i.name, "named");
        EXPECT_EQ(i.attempts, 1u);
        EXPECT_NE(i.worker, 0u);
        EXPECT_TRUE(i.has_started());
        EXPECT_TRUE(i.has_finished());
        EXPECT_LE(i.submitted, i.started);
        EXPECT_LE(i.started, i.finished);
        EXPECT_EQ(i.run_time(), i.finished - i.started);
        EXPECT_TRUE(i.error.empty());
        EXPECT_EQ(value.status(), job_state::succeeded);
        EXPECT_TRUE(value.done());
    });
}

TEST_P(Dispatcher, ClientsOnEveryThreadGetTheirOwnResults) {
    run([this] {
        dispatcher d(4);
        task_group clients(mode());
        std::atomic<int> wrong{0};
        clients.go_n(4, [&](int c) {
            std::vector<csp::job_handle<int>> hs;
            for (int i = 0; i < 100; ++i) hs.push_back(d.submit([c, i] { return c * 1000 + i; }));
            for (int i = 0; i < 100; ++i)
                if (hs[static_cast<std::size_t>(i)].get() != c * 1000 + i) ++wrong;
        });
        clients.wait();
        EXPECT_EQ(wrong, 0);
    });
}

TEST_P(Dispatcher, RunningJobShowsRunningWithItsWorker) {
    run([] {
        dispatcher d(1);
        gate g;
        csp::chan<csp::unit> started;
        auto h = d.submit([&] {
            started.send(csp::unit{});
            g.wait();
        });
        started.recv();
        const csp::job_info i = h.info();
        EXPECT_EQ(i.state, job_state::running);
        EXPECT_EQ(i.worker, d.workers().at(0));
        EXPECT_TRUE(i.has_started());
        EXPECT_FALSE(i.has_finished());
        EXPECT_GE(i.run_time(), steady::duration::zero());
        EXPECT_FALSE(h.wait_for(1ms));
        g.open();
        EXPECT_TRUE(h.wait_for(patience));
        EXPECT_EQ(h.status(), job_state::succeeded);
    });
}

TEST_P(Dispatcher, ThrowingJobFailsAndItsWorkerGoesOn) {
    run([] {
        dispatcher d(1);
        auto bad = d.submit([]() -> int { throw std::runtime_error("boom"); });
        auto good = d.submit([] { return 1; });
        try {
            bad.get();
            ADD_FAILURE() << "get() did not rethrow";
        } catch (const std::runtime_error& e) {
            EXPECT_STREQ(e.what(), "boom");
        }
        EXPECT_EQ(good.get(), 1);
        const csp::job_info i = d.info(bad.id());
        EXPECT_EQ(i.state, job_state::failed);
        EXPECT_EQ(i.error, "boom");
        EXPECT_EQ(i.worker, d.info(good.id()).worker);  // the same, still alive
        auto odd = d.submit([] { throw 7; });
        EXPECT_THROW(odd.get(), int);
        EXPECT_EQ(odd.info().error, "unknown exception");
    });
}

TEST_P(Dispatcher, CancelledQueuedJobNeverRuns) {
    run([] {
        dispatcher d(1);
        gate g;
        auto blocker = d.submit([&] { g.wait(); });
        std::atomic<bool> ran{false};
        auto victim = d.submit([&ran] { ran = true; return 1; });
        EXPECT_EQ(d.cancel(victim.id()), cancel_result::cancelled);
        EXPECT_EQ(victim.status(), job_state::cancelled);
        EXPECT_EQ(d.cancel(victim.id()), cancel_result::already_cancelled);  // double cancel: a clear answer
        EXPECT_TRUE(throws_code(dispatcher_errc::job_cancelled, [&] { victim.get(); }));
        g.open();
        d.wait_all();
        EXPECT_FALSE(ran);
        const csp::job_info i = victim.info();
        EXPECT_EQ(i.attempts, 0u);
        EXPECT_EQ(i.worker, 0u);
        EXPECT_EQ(i.error, "cancelled before it ran");
        EXPECT_EQ(blocker.status(), job_state::succeeded);
    });
}

TEST_P(Dispatcher, CancelledRunningJobEndsCancelled) {
    run([] {
        dispatcher d(1);
        csp::chan<csp::unit> started;
        gate g;
        auto h = d.submit([&](const csp::context& ctx) {
            started.send(csp::unit{});
            ctx.done().recv();
            g.wait();
            return 5;  // returns normally after the cancel: still cancelled
        });
        started.recv();
        EXPECT_EQ(h.cancel(), cancel_result::cancelling);
        EXPECT_EQ(h.cancel(), cancel_result::already_cancelled);
        g.open();
        EXPECT_TRUE(throws_code(dispatcher_errc::job_cancelled, [&] { (void)h.get(); }));
        EXPECT_EQ(h.cancel(), cancel_result::already_cancelled);  // final now: the same answer
        const csp::job_info i = h.info();
        EXPECT_EQ(i.state, job_state::cancelled);
        EXPECT_EQ(i.attempts, 1u);
        EXPECT_EQ(i.error, "cancelled while running");
        EXPECT_EQ(d.submit([] { return 2; }).get(), 2);  // the worker goes on
    });
}

TEST_P(Dispatcher, TimeoutExpiresTheJobsContext) {
    run([] {
        dispatcher d(1);
        auto h = d.submit([](const csp::context& ctx) { ctx.done().recv(); }, {.timeout = 10ms});
        EXPECT_TRUE(throws_code(dispatcher_errc::job_timed_out, [&] { h.get(); }));
        const csp::job_info i = h.info();
        EXPECT_EQ(i.state, job_state::timed_out);
        EXPECT_GE(i.run_time(), 10ms);
        auto quick = d.submit([] { return 1; }, {.timeout = 1h});
        EXPECT_EQ(quick.get(), 1);
    });
}

TEST_P(Dispatcher, HighPriorityJobsStartFirst) {
    run([] {
        dispatcher d(1);
        gate g;
        auto blocker = d.submit([&] { g.wait(); });
        csp::chan<int> order(16);
        for (auto p : {csp::job_priority::low, csp::job_priority::normal, csp::job_priority::high})
            for (int k = 0; k < 2; ++k)
                d.submit([&order, p, k] { order.send(static_cast<int>(p) * 10 + k); }, {.priority = p});
        g.open();
        d.wait_all();
        std::vector<int> got;
        for (int i = 0; i < 6; ++i) got.push_back(*order.recv());
        EXPECT_EQ(got, (std::vector<int>{20, 21, 10, 11, 0, 1}));
    });
}

TEST_P(Dispatcher, UnknownIdsAreClearErrors) {
    run([] {
        dispatcher d(1);
        EXPECT_TRUE(throws_code(dispatcher_errc::unknown_job, [&] { d.info(12345); }));
        EXPECT_TRUE(throws_code(dispatcher_errc::unknown_job, [&] { d.cancel(12345); }));
        EXPECT_TRUE(throws_code(dispatcher_errc::unknown_worker, [&] { d.quit_worker(999); }));
        d.shutdown();
        EXPECT_TRUE(throws_code(dispatcher_errc::unknown_job, [&] { d.info(12345); }));
        EXPECT_TRUE(throws_code(dispatcher_errc::unknown_job, [&] { d.cancel(12345); }));
        EXPECT_TRUE(throws_code(dispatcher_errc::unknown_worker, [&] { d.quit_worker(1); }));
    });
}

TEST_P(Dispatcher, AfterShutdownSubmitAndShutdownFailButQueriesWork) {
    run([] {
        dispatcher d(2);
        auto h = d.submit([] { return 3; });
        EXPECT_TRUE(d.shutdown());
        EXPECT_TRUE(d.stopped());
        EXPECT_TRUE(throws_code(dispatcher_errc::shut_down, [&] { d.submit([] {}); }));
        EXPECT_TRUE(throws_code(dispatcher_errc::shut_down, [&] { d.shutdown(); }));
        EXPECT_TRUE(throws_code(dispatcher_errc::shut_down, [&] { d.add_workers(1); }));
        EXPECT_EQ(h.get(), 3);
        EXPECT_EQ(d.info(h.id()).state, job_state::succeeded);
        EXPECT_EQ(h.cancel(), cancel_result::already_final);
        EXPECT_TRUE(d.workers().empty());
        EXPECT_EQ(d.quit_all(), 0u);
        d.wait_all();  // nothing open: returns
    });
}

TEST_P(Dispatcher, QuitWorkerFinishesItsJobFirst) {
    run([] {
        dispatcher d(1);
        const csp::worker_id w = d.workers().at(0);
        gate g;
        csp::chan<csp::unit> started;
        auto h = d.submit([&] {
            started.send(csp::unit{});
            g.wait();
            return 1;
        });
        started.recv();
        d.quit_worker(w);
        EXPECT_TRUE(d.workers().empty());
        EXPECT_TRUE(throws_code(dispatcher_errc::unknown_worker, [&] { d.quit_worker(w); }));  // already quitting
        auto later = d.submit([] { return 2; });
        g.open();
        EXPECT_EQ(h.get(), 1);
        EXPECT_FALSE(later.wait_for(20ms));  // no worker left to run it
        EXPECT_EQ(later.status(), job_state::queued);
        const std::vector<csp::worker_id> added = d.add_workers(1);
        ASSERT_EQ(added.size(), 1u);
        EXPECT_GT(added[0], w);
        EXPECT_EQ(later.get(), 2);
        EXPECT_EQ(later.info().worker, added[0]);
    });
}

TEST_P(Dispatcher, QuitNowCancelsTheWorkersJob) {
    run([] {
        dispatcher d(2);
        auto h = running_until_cancelled(d);
        d.quit_worker(h.info().worker, stop_mode::now);
        EXPECT_TRUE(throws_code(dispatcher_errc::job_cancelled, [&] { h.get(); }));
        EXPECT_EQ(d.workers().size(), 1u);
        EXPECT_EQ(d.submit([] { return 1; }).get(), 1);
    });
}

TEST_P(Dispatcher, QuitAllThenAddWorkers) {
    run([] {
        dispatcher d(3);
        EXPECT_EQ(d.workers(), (std::vector<csp::worker_id>{1, 2, 3}));
        EXPECT_EQ(d.quit_all(), 3u);
        EXPECT_TRUE(d.workers().empty());
        auto h = d.submit([] { return 9; });
        EXPECT_FALSE(h.wait_for(20ms));
        EXPECT_EQ(d.add_workers(2), (std::vector<csp::worker_id>{4, 5}));
        EXPECT_EQ(h.get(), 9);
        EXPECT_EQ(d.workers().size(), 2u);
    });
}

TEST_P(Dispatcher, WaitAllWaitsForEveryJob) {
    run([this] {
        dispatcher d(3);
        std::atomic<int> done{0};
        task_group clients(mode());
        clients.go_n(3, [&](int) {
            for (int i = 0; i < 30; ++i)
                d.submit([&done] {
                    csp::sleep_for(100us);
                    ++done;
                });
        });
        clients.wait();
        d.wait_all();
        EXPECT_EQ(done, 90);
        gate g;
        d.submit([&] { g.wait(); });
        EXPECT_FALSE(d.wait_all_for(10ms));
        g.open();
        EXPECT_TRUE(d.wait_all_for(patience));
    });
}

TEST_P(Dispatcher, GracefulShutdownRunsEveryQueuedJob) {
    run([] {
        // A dispatcher of an earlier test may still have a goroutine on its
        // way out (it returns after its last message): wait for it, so the
        // count below sees only this dispatcher's.
        ASSERT_TRUE(no_dispatcher_goroutines_left()) << csp::goroutine_dump();
        const std::size_t before = dispatcher_goroutines();
        std::vector<csp::job_handle<int>> hs;
        {
            dispatcher d(2);
            EXPECT_EQ(d.workers().size(), 2u);  // the loop has started them
            EXPECT_EQ(dispatcher_goroutines(), before + 3);
            for (int i = 0; i < 50; ++i)
                hs.push_back(d.submit([i] {
                    csp::yield();
                    return i;
                }));
            EXPECT_TRUE(d.shutdown());
        }
        for (int i = 0; i < 50; ++i) EXPECT_EQ(hs[static_cast<std::size_t>(i)].get(), i);
        EXPECT_TRUE(no_dispatcher_goroutines_left()) << csp::goroutine_dump();
        EXPECT_EQ(hs[0].status(), job_state::succeeded);  // a handle outlives its dispatcher
    });
}

TEST_P(Dispatcher, ShutdownNowCancelsQueuedAndRunningJobs) {
    run([] {
        dispatcher d(1);
        auto running = running_until_cancelled(d);
        std::atomic<int> ran{0};
        std::vector<csp::job_handle<void>> queued;
        for (int i = 0; i < 10; ++i) queued.push_back(d.submit([&ran] { ++ran; }));
        EXPECT_TRUE(d.shutdown(stop_mode::now, patience));
        EXPECT_EQ(running.status(), job_state::cancelled);
        for (auto& q : queued) EXPECT_EQ(q.status(), job_state::cancelled);
        EXPECT_EQ(ran, 0);
        EXPECT_TRUE(no_dispatcher_goroutines_left()) << csp::goroutine_dump();
    });
}

TEST_P(Dispatcher, GracefulShutdownPastItsTimeoutBecomesNow) {
    run([] {
        dispatcher d(1);
        auto h = running_until_cancelled(d);  // only a cancel ends it
        EXPECT_FALSE(d.shutdown(stop_mode::graceful, 10ms));
        EXPECT_TRUE(d.wait_stopped_for(patience));
        EXPECT_EQ(h.status(), job_state::cancelled);
    });
}

TEST_P(Dispatcher, ShutdownNowEscalatesAGracefulOneInProgress) {
    run([this] {
        dispatcher d(1);
        auto running = running_until_cancelled(d);  // a graceful shutdown alone never ends
        std::atomic<int> ran{0};
        std::vector<csp::job_handle<void>> queued;
        for (int i = 0; i < 5; ++i) queued.push_back(d.submit([&ran] { ++ran; }));
        std::atomic<int> graceful_result{-1};
        task_group graceful(mode());
        graceful.go([&] { graceful_result = d.shutdown() ? 1 : 0; });
        // The graceful shutdown has begun once submits fail.
        ASSERT_TRUE(yield_until([&] {
            try {
                d.submit([] {});
                return false;
            } catch (const csp::dispatcher_error&) {
                return true;
            }
        }));
        EXPECT_EQ(graceful_result, -1);  // still waiting for the running job
        EXPECT_TRUE(d.shutdown(stop_mode::now, patience));
        graceful.wait();
        EXPECT_EQ(graceful_result, 1);  // the first waiter saw the stop too
        EXPECT_EQ(running.status(), job_state::cancelled);
        for (auto& q : queued) EXPECT_EQ(q.status(), job_state::cancelled);
        EXPECT_EQ(ran, 0);
        // Escalated once: any further shutdown is a second one.
        EXPECT_TRUE(throws_code(dispatcher_errc::shut_down, [&] { d.shutdown(stop_mode::now); }));
        EXPECT_TRUE(throws_code(dispatcher_errc::shut_down, [&] { d.shutdown(); }));
    });
}

TEST_P(Dispatcher, CancelAnswersTellWhetherACancelCameFirst) {
    run([] {
        dispatcher d(1);
        auto ok = d.submit([] { return 1; });
        EXPECT_EQ(ok.get(), 1);
        EXPECT_EQ(ok.cancel(), cancel_result::already_final);
        auto failing = d.submit([] { throw std::runtime_error("x"); });
        failing.wait();
        EXPECT_EQ(failing.cancel(), cancel_result::already_final);
        auto later = d.submit_after(1h, [] {});
        EXPECT_EQ(later.cancel(), cancel_result::cancelled);
        EXPECT_EQ(later.cancel(), cancel_result::already_cancelled);
        auto running = running_until_cancelled(d);
        auto by_shutdown = d.submit([] {});  // queued behind it
        EXPECT_TRUE(d.shutdown(stop_mode::now, patience));
        // After the stop, from the frozen table: the same answers.
        EXPECT_EQ(ok.cancel(), cancel_result::already_final);
        EXPECT_EQ(failing.cancel(), cancel_result::already_final);
        EXPECT_EQ(later.cancel(), cancel_result::already_cancelled);
        EXPECT_EQ(running.cancel(), cancel_result::already_cancelled);
        EXPECT_EQ(by_shutdown.cancel(), cancel_result::already_cancelled);
    });
}

TEST_P(Dispatcher, DestructorStopsEverything) {
    run([] {
        csp::job_handle<void> h;
        {
            dispatcher d(2);
            h = d.submit([](const csp::context& ctx) { ctx.done().recv(); });
            d.submit([] {});
        }
        EXPECT_TRUE(h.done());
        EXPECT_EQ(h.status(), job_state::cancelled);
        EXPECT_TRUE(no_dispatcher_goroutines_left()) << csp::goroutine_dump();
    });
}

TEST_P(Dispatcher, ShutdownFromInsideAJobDoesNotDeadlock) {
    run([] {
        dispatcher d(1);
        std::atomic<int> returned{-1};
        auto h = d.submit([&] { returned = d.shutdown() ? 1 : 0; });
        EXPECT_TRUE(d.wait_stopped_for(patience));
        EXPECT_EQ(returned, 0);
        EXPECT_EQ(h.status(), job_state::succeeded);
    });
}

TEST_P(Dispatcher, JobsWaitingOnJobsDoNotDeadlockOneWorker) {
    run([] {
        dispatcher d(1);
        // Three levels deep on one worker: each waits for a job it submits.
        auto outer = d.submit([&d] {
            auto middle = d.submit([&d] {
                auto inner = d.submit([] { return 1; });
                return inner.get() + 1;
            });
            return middle.get() + 1;
        });
        ASSERT_TRUE(outer.wait_for(patience)) << csp::goroutine_dump();
        EXPECT_EQ(outer.get(), 3);
        d.wait_all();
        // The lent workers are retired again.
        const auto t0 = steady::now();
        while (d.workers().size() != 1 && since(t0) < patience) csp::sleep_for(1ms);
        EXPECT_EQ(d.workers().size(), 1u);
    });
}

TEST_P(Dispatcher, WaitAllFromInsideAJobWaitsForTheOthers) {
    run([] {
        dispatcher d(1);
        std::atomic<int> done{0};
        auto h = d.submit([&d, &done] {
            for (int i = 0; i < 5; ++i) d.submit([&done] { ++done; });
            d.wait_all();  // not for itself
            return done.load();
        });
        ASSERT_TRUE(h.wait_for(patience)) << csp::goroutine_dump();
        EXPECT_EQ(h.get(), 5);
    });
}

CSP_INSTANTIATE_SETTINGS(Dispatcher);

// The memory store's table (chunks of 64, 128, ... 4096 records, then 4096
// each; records built in slot order as ids reach them): ids arriving out
// of order across chunk boundaries, holes, and the FIFO order per priority.
TEST(MemoryStore, IdsOutOfOrderAcrossChunksAndHoles) {
    std::unique_ptr<csp::job_store> st = csp::make_memory_store();
    constexpr csp::job_id n = 20'000;  // past the doubling chunks (8,128 slots) into the fixed ones
    std::vector<csp::job_id> order;
    // Blocks of 100 ids added back to front; every 7th id never added (a hole).
    for (csp::job_id b = 1; b <= n; b += 100)
        for (csp::job_id id = std::min(b + 99, n); id >= b; --id)
            if (id % 7 != 0) order.push_back(id);
    for (csp::job_id id : order) {
        csp::job_record r;
        r.info.id = id;
        r.info.priority = id % 2 ? csp::job_priority::high : csp::job_priority::low;
        st->add(std::move(r));
    }
    for (csp::job_id id = 1; id <= n + 5000; ++id) {
        const csp::job_record* r = st->find(id);
        if (id <= n && id % 7 != 0) {
            ASSERT_NE(r, nullptr) << id;
            EXPECT_EQ(r->info.id, id);
        } else {
            EXPECT_EQ(r, nullptr) << id;
        }
    }
    std::size_t seen = 0;
    st->for_each([&](csp::job_record&) { ++seen; });
    EXPECT_EQ(seen, order.size());
    EXPECT_EQ(st->queued(), order.size());
    // High (odd ids) before low, each in the order added.
    std::vector<csp::job_id> want;
    for (int odd = 1; odd >= 0; --odd)
        for (csp::job_id id : order)
            if (static_cast<int>(id % 2) == odd) want.push_back(id);
    for (csp::job_id id : want) {
        csp::job_record* r = st->next_ready();
        ASSERT_NE(r, nullptr);
        ASSERT_EQ(r->info.id, id);
        r->info.state = csp::job_state::running;
    }
    EXPECT_EQ(st->next_ready(), nullptr);
}

}  // namespace
}  // namespace csp_test
