// csp::dispatcher under load: many thousands of tiny jobs submitted from
// several clients (goroutines, plain threads, both), some failing, some
// cancelled by another client while queued or running, workers quit and
// added meanwhile. Every submitted id must reach exactly one final state,
// consistent with how often the job ran; the test is bounded in time and
// reports the dispatcher's state and a goroutine dump when it fails.
#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "../harness/stress.hpp"
#include "dispatcher_test_util.hpp"

namespace csp_test {
namespace {

class DispatcherStress : public SettingTest {};

TEST_P(DispatcherStress, EveryJobReachesExactlyOneFinalState) {
    run([this] {
        const int clients_n = 4;
        const int per_client = scaled(5000, 100);
        const int total = clients_n * per_client;
        dispatcher d(8);
        // runs[id]: how often job `id` ran (ids count from 1 in one dispatcher).
        std::vector<std::atomic<int>> runs(static_cast<std::size_t>(total) + 1);
        std::vector<std::vector<csp::job_handle<int>>> handles(static_cast<std::size_t>(clients_n));
        csp::chan<csp::job_id> to_cancel(1024);
        std::atomic<int> cancels{0};

        task_group clients(mode());
        clients.go_n(clients_n, [&](int c) {
            auto& mine = handles[static_cast<std::size_t>(c)];
            mine.reserve(static_cast<std::size_t>(per_client));
            for (int i = 0; i < per_client; ++i) {
                // The job learns its id through a shared slot set right after submit.
                auto id_slot = std::make_shared<std::atomic<csp::job_id>>(0);
                auto h = d.submit([&runs, id_slot, i]() -> int {
                    csp::job_id id;
                    while ((id = id_slot->load()) == 0) csp::yield();
                    ++runs[static_cast<std::size_t>(id)];
                    if (i % 97 == 13) throw std::runtime_error("planned failure");
                    if (i % 16 == 0) csp::yield();
                    return i;
                });
                id_slot->store(h.id());
                if (i % 50 == 7) to_cancel.try_send(h.id());
                mine.push_back(std::move(h));
            }
        });
        // A canceller and a worker shuffler run beside the clients.
        task_group helpers(mode());
        helpers.go([&] {
            for (csp::job_id id : to_cancel) {
                d.cancel(id);
                ++cancels;
            }
        });
        csp::chan<csp::unit> stop_shuffling;
        helpers.go([&] {
            std::mt19937 rng(7);
            while (stop_shuffling.recv_for(2ms).status == csp::chan_status::timeout) {
                const std::vector<csp::worker_id> ws = d.workers();
                if (!ws.empty()) {
                    const auto victim = ws[rng() % ws.size()];
                    try {
                        d.quit_worker(victim, rng() % 2 ? csp::stop_mode::now : csp::stop_mode::graceful);
                    } catch (const csp::dispatcher_error&) {
                        // raced with another quit: fine
                    }
                }
                d.add_workers(1);
            }
        });
        clients.wait();
        to_cancel.close();
        const bool finished = d.wait_all_for(patience * 3);
        stop_shuffling.close();
        helpers.wait();

        std::map<job_state, int> by_state;
        int inconsistent = 0;
        for (auto& hs : handles)
            for (auto& h : hs) {
                const csp::job_info i = h.info();
                ++by_state[i.state];
                const int ran = runs[static_cast<std::size_t>(h.id())].load();
                const bool ok = (i.state == job_state::succeeded && ran == 1 && h.done()) ||
                                (i.state == job_state::failed && ran == 1 && i.error == "planned failure") ||
                                (i.state == job_state::cancelled && ran <= 1);
                if (!ok && ++inconsistent <= 10)
                    ADD_FAILURE() << "job " << h.id() << ": " << csp::to_string(i.state) << ", ran " << ran
                                  << " times, attempts " << i.attempts;
            }
        std::string summary;
        for (auto& [st, n] : by_state) summary += std::string(csp::to_string(st)) + " " + std::to_string(n) + ", ";
        ASSERT_TRUE(finished) << "jobs still open after the bound: " << summary << "\n" << csp::goroutine_dump();
        EXPECT_EQ(inconsistent, 0) << summary;
        int counted = 0;
        for (auto& [st, n] : by_state) counted += n;
        EXPECT_EQ(counted, total);
        EXPECT_EQ(by_state.count(job_state::queued) + by_state.count(job_state::running), 0u) << summary;
        for (std::size_t id = static_cast<std::size_t>(total) + 1; id < runs.size(); ++id) EXPECT_EQ(runs[id], 0);
        EXPECT_TRUE(d.shutdown(csp::stop_mode::graceful, patience));
        EXPECT_TRUE(no_dispatcher_goroutines_left()) << csp::goroutine_dump();
        std::printf("[ stress   ] %d jobs, %d cancels asked: %s\n", total, cancels.load(), summary.c_str());
    });
}

CSP_INSTANTIATE_ALL_SETTINGS(DispatcherStress);

}  // namespace
}  // namespace csp_test
