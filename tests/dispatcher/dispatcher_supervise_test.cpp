// csp::dispatcher's worker supervision: a worker that dies (fault injected
// through dispatcher_options::test_fault) is replaced within the restart
// intensity; its job is failed or retried, never lost, never run twice
// otherwise; past the intensity the dispatcher gives up and shuts down,
// and every job still gets exactly one final state.
#include <atomic>
#include <map>
#include <stdexcept>
#include <vector>

#include "dispatcher_test_util.hpp"

namespace csp_test {
namespace {

class DispatcherSupervise : public SettingTest {};

/// A fault hook that kills the worker holding job `victim` at the given
/// point, once (job ids count from 1 in submission order).
auto kill_once(csp::job_id victim, bool after_run, std::shared_ptr<std::atomic<bool>> fired) {
    return [=](csp::worker_id, csp::job_id job, bool started) {
        if (job == victim && started == after_run && !fired->exchange(true))
            throw std::runtime_error("injected fault");
    };
}

TEST_P(DispatcherSupervise, DeadWorkerIsReplacedAndItsJobFails) {
    run([] {
        auto fired = std::make_shared<std::atomic<bool>>(false);
        dispatcher d({.workers = 2, .test_fault = kill_once(2, true, fired)});
        std::atomic<int> runs_of_2{0};
        auto first = d.submit([] { return 1; });
        auto victim = d.submit([&] { return ++runs_of_2; });
        ASSERT_EQ(victim.id(), 2u);
        victim.wait();
        EXPECT_TRUE(*fired);
        EXPECT_EQ(runs_of_2, 1);
        const csp::job_info i = victim.info();
        EXPECT_EQ(i.state, job_state::failed);
        EXPECT_EQ(i.attempts, 1u);
        EXPECT_NE(i.error.find("injected fault"), std::string::npos) << i.error;
        EXPECT_TRUE(throws_code(dispatcher_errc::worker_died, [&] { (void)victim.get(); }));
        EXPECT_EQ(first.get(), 1);
        // Replaced: two live workers, the dead one not among them; they work.
        EXPECT_TRUE(yield_until([&] { return d.workers().size() == 2; }));
        const auto ws = d.workers();
        EXPECT_EQ(std::count(ws.begin(), ws.end(), i.worker), 0);
        for (int k = 0; k < 20; ++k) EXPECT_EQ(d.submit([k] { return k; }).get(), k);
        const auto m = d.metrics();
        EXPECT_EQ(m.worker_deaths, 1u);
        EXPECT_EQ(m.worker_restarts, 1u);
        EXPECT_FALSE(m.gave_up);
        EXPECT_EQ(m.failed, 1u);
    });
}

TEST_P(DispatcherSupervise, DeadWorkersJobIsRetriedPerItsOptions) {
    run([] {
        auto fired = std::make_shared<std::atomic<bool>>(false);
        dispatcher d({.workers = 1, .test_fault = kill_once(1, true, fired)});
        std::atomic<int> runs{0};
        auto h = d.submit([&] { return ++runs; },
                          {.retries = 1, .backoff = [](unsigned) { return std::chrono::steady_clock::duration{}; }});
        EXPECT_EQ(h.get(), 2);  // the first run's verdict died with its worker
        EXPECT_EQ(runs, 2);
        EXPECT_EQ(h.info().attempts, 2u);
        EXPECT_EQ(d.metrics().retries, 1u);
    });
}

TEST_P(DispatcherSupervise, DeathBeforeTheStartRequeuesTheJobUnrun) {
    run([] {
        auto fired = std::make_shared<std::atomic<bool>>(false);
        dispatcher d({.workers = 1, .test_fault = kill_once(1, false, fired)});
        std::atomic<int> runs{0};
        auto h = d.submit([&] { return ++runs; });  // no retries: the requeue is no retry
        EXPECT_EQ(h.get(), 1);
        EXPECT_TRUE(*fired);
        EXPECT_EQ(runs, 1);
        EXPECT_EQ(h.info().attempts, 1u);
        EXPECT_EQ(d.metrics().worker_deaths, 1u);
    });
}

TEST_P(DispatcherSupervise, PastTheIntensityTheDispatcherGivesUp) {
    run([] {
        // Every run kills its worker; two restarts allowed: the third death
        // gives up. The deaths wait until all ten jobs are in (else, from a
        // plain thread, the dispatcher may give up while we still submit).
        csp::chan<csp::unit> submitted;  // closed once every job is in
        dispatcher d({.workers = 1,
                      .max_restarts = 2,
                      .restart_period = std::chrono::hours(1),
                      .test_fault = [submitted](csp::worker_id, csp::job_id, bool started) {
                          if (!started) return;
                          submitted.recv();
                          throw std::runtime_error("always");
                      }});
        auto events = d.events();
        std::atomic<int> runs{0};
        std::vector<csp::job_handle<void>> hs;
        for (int i = 0; i < 10; ++i) hs.push_back(d.submit([&runs] { ++runs; }));
        submitted.close();
        ASSERT_TRUE(d.wait_stopped_for(patience)) << csp::goroutine_dump();
        int failed = 0, cancelled = 0;
        for (auto& h : hs) {
            ASSERT_TRUE(h.done());
            const job_state st = h.status();
            if (st == job_state::failed) ++failed;
            else if (st == job_state::cancelled) ++cancelled;
            else ADD_FAILURE() << "job " << h.id() << " ended " << csp::to_string(st);
        }
        EXPECT_EQ(failed, 3);  // one per death
        EXPECT_EQ(cancelled, 7);
        EXPECT_EQ(runs, 3);
        const auto m = d.metrics();
        EXPECT_TRUE(m.gave_up);
        EXPECT_EQ(m.worker_deaths, 3u);
        EXPECT_EQ(m.worker_restarts, 2u);
        int died = 0, gave_up = 0;
        for (const auto& e : events) {
            if (e.what == csp::dispatcher_event::kind::worker_died) ++died;
            if (e.what == csp::dispatcher_event::kind::supervisor_gave_up) ++gave_up;
        }
        EXPECT_EQ(died, 3);
        EXPECT_EQ(gave_up, 1);
        EXPECT_TRUE(throws_code(dispatcher_errc::shut_down, [&] { d.submit([] {}); }));
        EXPECT_TRUE(throws_code(dispatcher_errc::shut_down, [&] { d.shutdown(); }));
        EXPECT_TRUE(no_dispatcher_goroutines_left());
    });
}

TEST_P(DispatcherSupervise, DeathsAmongManyJobsLoseNone) {
    run([this] {
        constexpr int clients_n = 4, per_client = 100;
        // Kill the worker after every 10th job (by id) and before every 10th
        // + 5, once per job.
        auto fired = std::make_shared<std::vector<std::atomic<bool>>>(clients_n * per_client + 1);
        dispatcher d({.workers = 3,
                      .max_restarts = 1000,
                      .test_fault = [fired](csp::worker_id, csp::job_id job, bool started) {
                          if ((started ? job % 10 == 0 : job % 10 == 5) && !(*fired)[job].exchange(true))
                              throw std::runtime_error("injected");
                      }});
        std::vector<std::atomic<int>> runs(clients_n * per_client + 1);
        std::vector<std::vector<csp::job_handle<void>>> hs(clients_n);
        task_group clients(mode());
        clients.go_n(clients_n, [&](int c) {
            for (int i = 0; i < per_client; ++i) {
                const auto k = static_cast<std::size_t>(c * per_client + i);
                hs[static_cast<std::size_t>(c)].push_back(d.submit([&runs, k] { ++runs[k]; }));
            }
        });
        clients.wait();
        ASSERT_TRUE(d.wait_all_for(patience)) << csp::goroutine_dump();
        int failed = 0;
        for (int c = 0; c < clients_n; ++c)
            for (int i = 0; i < per_client; ++i) {
                auto& h = hs[static_cast<std::size_t>(c)][static_cast<std::size_t>(i)];
                const int n = runs[static_cast<std::size_t>(c * per_client + i)];
                const job_state st = h.status();
                EXPECT_EQ(n, 1) << "job " << h.id() << " ran " << n << " times";
                if (h.id() % 10 == 0) {
                    EXPECT_EQ(st, job_state::failed) << h.id();
                    ++failed;
                } else {
                    EXPECT_EQ(st, job_state::succeeded) << h.id();
                }
            }
        const auto m = d.metrics();
        EXPECT_EQ(m.failed, static_cast<std::uint64_t>(failed));
        EXPECT_EQ(m.worker_deaths, static_cast<std::uint64_t>(2 * clients_n * per_client / 10));
        EXPECT_FALSE(m.gave_up);
        EXPECT_EQ(d.workers().size(), 3u);
    });
}

}  // namespace

CSP_INSTANTIATE_SETTINGS(DispatcherSupervise);

}  // namespace csp_test
