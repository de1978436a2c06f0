// csp::dispatcher at scale: a million tiny jobs (each adds two numbers)
// submitted from several goroutine clients to eight workers (a hundred
// thousand from plain-thread and mixed clients). Every job must run exactly
// once, every id handed out must be distinct, and the event channel must
// report exactly one final state (succeeded) for each id. Sizes follow
// CSP_STRESS_SCALE (10,000 jobs under sanitizers). Bounded: a run that
// stops making progress for `patience` fails with the dispatcher's numbers
// and a goroutine dump, not a hang.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "../harness/stress.hpp"
#include "dispatcher_test_util.hpp"

namespace csp_test {
namespace {

class DispatcherScale : public SettingTest {};

std::string numbers(const csp::dispatcher_metrics& m) {
    return "submitted " + std::to_string(m.submitted) + ", succeeded " + std::to_string(m.succeeded) + ", queued " +
           std::to_string(m.queued) + ", running " + std::to_string(m.running) + ", workers " +
           std::to_string(m.workers) + " (busy " + std::to_string(m.busy) + ", idle " + std::to_string(m.idle) + ")";
}

TEST_P(DispatcherScale, AMillionTinyJobsEachFinishExactlyOnce) {
    run([this] {
        const int clients_n = 4;
        // The million once per registration, with goroutine clients (the
        // cheapest: ~5 s); plain-thread and mixed clients go through the
        // same paths (their intake sends block a thread instead of a
        // goroutine), so a tenth proves the same for them, and keeps this
        // binary under ~10 s in CI (it took 13-17 s with a million each).
        // Under sanitizers a job costs 50-100x (ASan, TSan): 10,000 jobs in
        // every setting.
#ifdef CSP_TEST_SANITIZED
        const long per_client = scaled(2'500L, 2'500L);
#else
        const long per_client = scaled(mode() == setting::goroutines ? 250'000L : 25'000L, 2'500L);
#endif
        const long total = clients_n * per_client;
        const auto t0 = steady::now();
        dispatcher d(8);

        // The event channel, read from before the first submit: one final
        // event per id is expected (finals[id]), ids count from 1.
        std::vector<std::uint8_t> finals(static_cast<std::size_t>(total) + 1);
        std::atomic<long> finals_seen{0}, finals_bad{0};
        csp::chan<csp::unit> all_final;  // closed by the reader at the total-th final event
        task_group reader(mode());
        reader.go([&, ev = d.events()] {
            for (const csp::dispatcher_event& e : ev) {
                if (e.what != csp::dispatcher_event::kind::job || !csp::is_final(e.state)) continue;
                // An id out of range or a state other than succeeded is a failure.
                if (e.job == 0 || e.job > static_cast<csp::job_id>(total) || e.state != job_state::succeeded) {
                    ++finals_bad;
                    continue;
                }
                ++finals[static_cast<std::size_t>(e.job)];
                if (++finals_seen == total) all_final.close();
            }
        });

        // ran[k]: how often the k-th job (client c's i-th: k = c * per_client + i) ran.
        std::vector<std::atomic<std::uint8_t>> ran(static_cast<std::size_t>(total));
        std::vector<std::vector<csp::job_id>> ids(clients_n);
        task_group clients(mode());
        clients.go_n(clients_n, [&](int c) {
            auto& mine = ids[static_cast<std::size_t>(c)];
            mine.reserve(static_cast<std::size_t>(per_client));
            for (long i = 0; i < per_client; ++i) {
                const long k = c * per_client + i;
                auto h = d.submit([&ran, k] {
                    ran[static_cast<std::size_t>(k)].fetch_add(1, std::memory_order_relaxed);
                    return k + 1;
                });
                mine.push_back(h.id());
            }
        });
        clients.wait();

        // Bounded: progress must be made within every `patience` slice.
        std::uint64_t last = 0;
        while (!d.wait_all_for(patience)) {
            const csp::dispatcher_metrics m = d.metrics();
            ASSERT_GT(m.succeeded, last) << "no job finished for " << ms(patience) << " ms: " << numbers(m) << "\n"
                                         << csp::goroutine_dump();
            last = m.succeeded;
        }
        const csp::dispatcher_metrics m = d.metrics();
        EXPECT_EQ(m.submitted, static_cast<std::uint64_t>(total)) << numbers(m);
        EXPECT_EQ(m.succeeded, static_cast<std::uint64_t>(total)) << numbers(m);
        const auto elapsed = since(t0);

        // Every job ran exactly once.
        long not_once = 0;
        for (std::size_t k = 0; k < ran.size(); ++k)
            if (ran[k].load() != 1 && ++not_once <= 5) ADD_FAILURE() << "job " << k << " ran " << int(ran[k].load()) << " times";
        EXPECT_EQ(not_once, 0);

        // Every id distinct, in 1..total.
        std::vector<csp::job_id> all;
        all.reserve(static_cast<std::size_t>(total));
        for (auto& v : ids) all.insert(all.end(), v.begin(), v.end());
        std::sort(all.begin(), all.end());
        EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "an id was handed out twice";
        ASSERT_EQ(all.size(), static_cast<std::size_t>(total));
        EXPECT_EQ(all.front(), 1u);
        EXPECT_EQ(all.back(), static_cast<csp::job_id>(total));

        // Exactly one final event per id (the reader may still be behind).
        EXPECT_TRUE(all_final.recv_for(patience).status == csp::chan_status::closed) << "the reader is stuck";
        EXPECT_EQ(finals_seen.load(), total) << "final events seen; " << numbers(d.metrics());
        EXPECT_EQ(finals_bad.load(), 0);
        long not_one = 0;
        for (std::size_t id = 1; id < finals.size(); ++id)
            if (finals[id] != 1 && ++not_one <= 5) ADD_FAILURE() << "id " << id << ": " << int(finals[id]) << " final events";
        EXPECT_EQ(not_one, 0);

        EXPECT_TRUE(d.shutdown(csp::stop_mode::graceful, patience));
        reader.wait();  // the event channel closes when the dispatcher stops
        EXPECT_TRUE(no_dispatcher_goroutines_left()) << csp::goroutine_dump();
        std::printf("[ scale    ] %ld jobs from %d clients on 8 workers in %.0f ms (%.2f us per job)\n", total, clients_n,
                    ms(elapsed), ms(elapsed) * 1e3 / static_cast<double>(total));
    });
}

CSP_INSTANTIATE_ALL_SETTINGS(DispatcherScale);

}  // namespace
}  // namespace csp_test
