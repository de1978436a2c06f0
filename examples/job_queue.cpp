// The next step seed 001 promises after its prototype (dispatcher_prototype.go
// and its port dispatcher_prototype.cpp): the same job1 and job2 on two
// workers, on the library's csp::dispatcher, which tracks each job's state,
// worker and run time, and stops its workers when told. Its event channel
// stands in for the prototype's "Got a dispatch status" printouts.
// --fast divides the sleeps by 10.
#include <chrono>
#include <cstdio>

#include <chan/chan.hpp>
#include <dispatcher/dispatcher.hpp>
#include <fiber/go.hpp>
#include <fiber/sleep.hpp>

#include "example.hpp"

using namespace std::chrono_literals;

// One event as the prototype printed its status reports.
void print_status(const csp::dispatcher_event& e) {
    if (e.what == csp::dispatcher_event::kind::job)
        std::printf("Got a dispatch status: Type[job] - ID[%llu] - Status[%s]\n", (unsigned long long)e.job,
                    csp::to_string(e.state));
    else
        std::printf("Got a dispatch status: Type[worker] - ID[%llu] - Status[%s]\n", (unsigned long long)e.worker,
                    e.what == csp::dispatcher_event::kind::worker_quit ? "quit" : "started");
}

int main(int argc, char** argv) {
    const examples::time_scale scaled(argc, argv);  // --fast: 0.2 s and 0.4 s
    csp::run([scaled] {
        auto job1 = [scaled] {
            std::printf("job1: performing work.\n");
            csp::sleep_for(scaled(2s));
            std::printf("Work done.\n");
        };
        auto job2 = [scaled] {
            std::printf("job2: performing work.\n");
            csp::sleep_for(scaled(4s));
            std::printf("Work done.\n");
        };

        csp::dispatcher d(2);  // two workers

        // Every status change from now on, printed as it happens. The
        // channel closes when the dispatcher stops; then `printed` closes.
        csp::chan<bool> printed;
        csp::go([events = d.events(), printed]() mutable {
            for (const csp::dispatcher_event& e : events) print_status(e);
            printed.close();
        });

        auto h1 = d.submit(job1, {.name = "job1"});
        auto h2 = d.submit(job2, {.name = "job2"});
        std::printf("Submitted job[%llu] and job[%llu].\n", (unsigned long long)h1.id(), (unsigned long long)h2.id());

        d.wait_all();  // no job queued or running: both have finished
        d.shutdown();  // every worker quits; the event channel closes
        printed.recv();

        for (const csp::job_id id : {h1.id(), h2.id()}) {
            const csp::job_info i = d.info(id);
            const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(i.run_time());
            std::printf("job[%llu] %s: %s on worker[%llu], ran %lld ms\n", (unsigned long long)id, i.name.c_str(),
                        csp::to_string(i.state), (unsigned long long)i.worker, (long long)ms.count());
            // A sleep is never shorter than asked: each job ran its time at least.
            examples::check(i.run_time() >= scaled(id == h1.id() ? 2s : 4s), "a job ran shorter than its sleep");
        }
        examples::check(h1.info().worker != h2.info().worker, "two jobs, two workers: each ran on its own");
        std::printf("All jobs finished.\n");
    });
}
