// csp::dispatcher under the races the issue names: cancel while a job
// starts, quit a worker while it takes a job, shutdown while clients submit,
// a timeout firing while the job finishes. Each race is run many times; in
// every run each job must reach exactly one final state consistent with
// what the racing call said and with how often the job ran.
#include <atomic>
#include <memory>
#include <vector>

#include <chan/context.hpp>

#include "dispatcher_test_util.hpp"

namespace csp_test {
namespace {

class DispatcherRace : public SettingTest {};

TEST_P(DispatcherRace, CancelWhileStarting) {
    run([this] {
        constexpr int per_client = 200;
        dispatcher d(2);
        std::atomic<int> ran{0};
        std::atomic<int> inconsistent{0}, cancelled_before{0}, cancelling{0}, too_late{0};
        task_group clients(mode());
        clients.go_n(2, [&](int) {
            for (int i = 0; i < per_client; ++i) {
                auto h = d.submit([&ran] {
                    ++ran;
                    return 1;
                });
                // 0 to 7 yields: the cancel lands before, during and after the start.
                for (int k = 0; k < i % 8; ++k) csp::yield();
                const cancel_result r = d.cancel(h.id());
                h.wait();
                const job_state st = h.status();
                switch (r) {
                    case cancel_result::cancelled:
                        ++cancelled_before;
                        if (st != job_state::cancelled || h.info().attempts != 0) ++inconsistent;
                        break;
                    case cancel_result::cancelling:
                        ++cancelling;
                        if (st != job_state::cancelled) ++inconsistent;
                        break;
                    case cancel_result::already_final:
                        ++too_late;
                        if (st != job_state::succeeded || h.get() != 1) ++inconsistent;
                        break;
                    case cancel_result::already_cancelled: ++inconsistent; break;
                }
                if (st == job_state::cancelled &&
                    !throws_code(dispatcher_errc::job_cancelled, [&] { (void)h.get(); }))
                    ++inconsistent;
            }
        });
        clients.wait();
        EXPECT_EQ(inconsistent, 0);
        EXPECT_EQ(cancelled_before + cancelling + too_late, 2 * per_client);
        // Jobs that ran: at most those not cancelled before they started.
        EXPECT_LE(ran.load(), cancelling + too_late);
        EXPECT_GE(ran.load(), too_late.load());
        std::printf("[ race     ] cancel: %d before start, %d while running, %d too late\n", cancelled_before.load(),
                    cancelling.load(), too_late.load());
    });
}

TEST_P(DispatcherRace, QuitWorkerWhileItTakesAJob) {
    run([] {
        dispatcher d(1);
        constexpr int rounds = 200;
        std::atomic<int> runs{0};
        int quit_now_cancelled = 0;
        for (int i = 0; i < rounds; ++i) {
            const csp::worker_id w = d.workers().at(0);
            auto h = d.submit([&runs, i] {
                ++runs;
                return i;
            });
            const bool now = i % 2 == 1;
            d.quit_worker(w, now ? stop_mode::now : stop_mode::graceful);
            d.add_workers(1);
            ASSERT_TRUE(h.wait_for(patience)) << "round " << i << "\n" << csp::goroutine_dump();
            const job_state st = h.status();
            if (st == job_state::cancelled) {
                ASSERT_TRUE(now) << "round " << i << ": a graceful quit cancelled the job";
                ++quit_now_cancelled;
            } else {
                ASSERT_EQ(st, job_state::succeeded) << "round " << i;
                EXPECT_EQ(h.get(), i);
            }
        }
        d.wait_all();
        EXPECT_LE(runs.load(), rounds);
        EXPECT_GE(runs.load(), rounds - quit_now_cancelled);
        EXPECT_EQ(d.workers().size(), 1u);
    });
}

void shutdown_while_submitting(setting s, stop_mode m) {
    constexpr int clients_n = 4;
    dispatcher d(2);
    std::atomic<int> accepted{0}, ran{0};
    std::vector<std::vector<csp::job_handle<int>>> handles(clients_n);
    task_group clients(s == setting::goroutines ? setting::mixed : s);
    // Bounded, so a graceful shutdown has bounded work even where clients
    // on plain threads outrun the scheduler (sanitizer builds).
    constexpr int max_per_client = 1000;
    clients.go_n(clients_n, [&](int c) {
        for (int i = 0; i < max_per_client; ++i) {
            try {
                handles[static_cast<std::size_t>(c)].push_back(d.submit([&ran, i] {
                    ++ran;
                    if (i % 8 == 0) csp::yield();
                    return i;
                }));
                ++accepted;
            } catch (const csp::dispatcher_error& e) {
                EXPECT_EQ(e.code(), dispatcher_errc::shut_down);
                return;
            }
        }
    });
    const auto t0 = steady::now();
    while (accepted < 500 && since(t0) < patience) csp::sleep_for(100us);
    // The shutdown lands while clients still submit (unless they were quicker).
    ASSERT_TRUE(d.shutdown(m, patience)) << csp::goroutine_dump();
    clients.wait();
    int succeeded = 0, cancelled = 0;
    for (auto& hs : handles)
        for (auto& h : hs) {
            ASSERT_TRUE(h.done()) << "job " << h.id() << " has no final state after shutdown";
            const job_state st = h.status();
            if (st == job_state::succeeded) ++succeeded;
            else if (st == job_state::cancelled) ++cancelled;
            else ADD_FAILURE() << "job " << h.id() << " ended " << csp::to_string(st);
        }
    EXPECT_EQ(succeeded + cancelled, accepted.load());
    if (m == stop_mode::graceful) {
        EXPECT_EQ(cancelled, 0);
    }
    // Every succeeded job ran once; a cancelled one at most once.
    EXPECT_GE(ran.load(), succeeded);
    EXPECT_LE(ran.load(), succeeded + cancelled);
    EXPECT_TRUE(no_dispatcher_goroutines_left()) << csp::goroutine_dump();
}

TEST_P(DispatcherRace, GracefulShutdownWhileClientsSubmit) {
    run([this] { shutdown_while_submitting(mode(), stop_mode::graceful); });
}

TEST_P(DispatcherRace, ShutdownNowWhileClientsSubmit) {
    run([this] { shutdown_while_submitting(mode(), stop_mode::now); });
}

TEST_P(DispatcherRace, TimeoutFiringWhileTheJobFinishes) {
    run([] {
        dispatcher d(4);
        constexpr int n = 200;
        std::vector<csp::job_handle<int>> hs;
        for (int i = 0; i < n; ++i)
            hs.push_back(d.submit(
                [i] {
                    // 0, 0.5 and 1 ms against a 1 ms timeout: both ends of the race.
                    csp::sleep_for((i % 3) * 500us);
                    return i;
                },
                {.timeout = 1ms}));
        int succeeded = 0, timed_out = 0;
        for (int i = 0; i < n; ++i) {
            auto& h = hs[static_cast<std::size_t>(i)];
            ASSERT_TRUE(h.wait_for(patience));
            const csp::job_info info = h.info();
            if (info.state == job_state::succeeded) {
                ++succeeded;
                EXPECT_EQ(h.get(), i);
            } else {
                ASSERT_EQ(info.state, job_state::timed_out) << csp::to_string(info.state);
                ++timed_out;
                EXPECT_GE(info.run_time(), 1ms);
                EXPECT_TRUE(throws_code(dispatcher_errc::job_timed_out, [&] { (void)h.get(); }));
            }
        }
        EXPECT_EQ(succeeded + timed_out, n);
        std::printf("[ race     ] timeout vs finish: %d succeeded, %d timed out\n", succeeded, timed_out);
    });
}

// A job's done channel is made by its first waiter (none is made for a job
// nobody waits on). Several waiters race each other to make it and race
// the loop making the job final: every wait must return, each exactly when
// the job is final, with its value.
TEST_P(DispatcherRace, WaitersRaceTheFinalState) {
    run([this] {
        constexpr int rounds = 100, waiters_n = 3;
        dispatcher d(2);
        std::atomic<int> wrong{0};
        for (int i = 0; i < rounds; ++i) {
            auto h = d.submit([i] { return i; });
            task_group waiters(mode());
            waiters.go_n(waiters_n, [&, h](int w) {
                // 0 to 3 yields: some waiters come before the job is final, some after.
                for (int k = 0; k < (i + w) % 4; ++k) csp::yield();
                const bool done_before = h.done();
                bool ok = true;
                switch ((i + w) % 3) {
                    case 0: ok = h.get() == i; break;
                    case 1: ok = h.wait_for(patience); break;
                    default: h.wait(); break;
                }
                // Once a wait returned, the job reads final, and never the other way round.
                if (!ok || !h.done() || (done_before && h.status() != job_state::succeeded)) ++wrong;
            });
            waiters.wait();
            if (h.get() != i) ++wrong;
        }
        EXPECT_EQ(wrong, 0);
    });
}

CSP_INSTANTIATE_SETTINGS(DispatcherRace);

}  // namespace
}  // namespace csp_test
