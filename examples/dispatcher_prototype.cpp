// Port of dispatcher_prototype.go (seed 001, section III "Example"): the
// article's prototype dispatcher, line for line. main adds two jobs (2 s and
// 4 s; --fast divides them by 10), starts two workers and spins until the
// dispatcher has heard both workers quit.
//
// Go's pointers (*Job, *Worker, *DispatchStatus, *Dispatcher) are
// std::shared_ptr here: goroutines keep what they capture alive, as Go's
// garbage collector would. Three places had to be decided rather than
// transcribed; each is commented where it happens:
//  - the Worker's Quit channel is never made: it is nil (Worker::Start),
//  - jobCounter is shared between goroutines (Dispatcher),
//  - main spins on Finished() (main).
//
// Which worker takes which job, and how the dispatcher's and the workers'
// first lines interleave, depends on scheduling, as in Go; the order of the
// rest is set by the sleeps.
#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include <chan/chan.hpp>
#include <chan/select.hpp>
#include <fiber/go.hpp>
#include <fiber/sleep.hpp>

#include "example.hpp"

using namespace std::chrono_literals;

// Go's `error`: an std::error_code, {} for nil.
using JobExecutable = std::function<std::error_code()>;

struct Job {
    int ID;
    JobExecutable F;
};

struct DispatchStatus {
    std::string Type;
    int ID;
    std::string Status;
};

struct Worker : std::enable_shared_from_this<Worker> {
    int ID;
    csp::chan<std::shared_ptr<Job>> jobs;
    csp::chan<std::shared_ptr<DispatchStatus>> dispatchStatus;
    // Never made, as in Go (CreateNewWorker does not set it): the nil
    // channel, on which a send or a receive blocks forever.
    csp::chan<bool> Quit = nullptr;

    void Start();
};

std::shared_ptr<Worker> CreateNewWorker(int id, csp::chan<std::shared_ptr<Worker>> workerQueue,
                                        csp::chan<std::shared_ptr<Job>> jobQueue,
                                        csp::chan<std::shared_ptr<DispatchStatus>> dStatus) {
    auto w = std::make_shared<Worker>();
    w->ID = id;
    w->jobs = jobQueue;
    w->dispatchStatus = dStatus;

    // Nobody ever receives from workerQueue: this goroutine blocks for good.
    csp::go([=] { workerQueue.send(w); });
    return w;
}

void Worker::Start() {
    csp::go([w = shared_from_this()] {
        for (;;) {
            bool quit = false;
            csp::select(
                csp::case_recv(w->jobs, [&](std::shared_ptr<Job> job) {
                    std::printf("Worker[%d] executing job[%d].\n", w->ID, job->ID);
                    job->F();
                    w->dispatchStatus.send(std::make_shared<DispatchStatus>(DispatchStatus{"worker", w->ID, "quit"}));
                    // Quit is nil (see Worker), so this send blocks this
                    // goroutine forever, as `w.Quit <- true` does in Go:
                    // each worker runs exactly one job. When main returns,
                    // the blocked goroutine is dropped, as in Go.
                    w->Quit.send(true);
                }),
                // A nil channel: never chosen.
                csp::case_recv(w->Quit, [&] { quit = true; }));
            if (quit) return;
        }
    });
}

struct Dispatcher : std::enable_shared_from_this<Dispatcher> {
    // Go's `jobCounter int` is written by main (AddJob) and by the dispatch
    // goroutine (on a worker's quit) and read by main (Finished) with no
    // synchronization: a data race (`go run -race` reports it). Here the
    // goroutines may run on several threads, so it is atomic: every read
    // sees a whole, current value and main's spin sees the decrements.
    std::atomic<int> jobCounter = 0;                             // internal counter for number of jobs
    csp::chan<std::shared_ptr<Job>> jobQueue;                    // channel of jobs submitted by main()
    csp::chan<std::shared_ptr<DispatchStatus>> dispatchStatus;  // channel for job/worker status reports
    csp::chan<std::shared_ptr<Job>> workQueue;                   // channel of work dispatched
    csp::chan<std::shared_ptr<Worker>> workerQueue;              // channel of workers

    void Start(int numWorkers);
    void AddJob(JobExecutable je);
    bool Finished() const;
};

std::shared_ptr<Dispatcher> CreateNewDispatcher() {
    // Default-constructed channels are made (unbuffered), as make(chan T).
    return std::make_shared<Dispatcher>();
}

void Dispatcher::Start(int numWorkers) {
    // Create numWorkers:
    for (int i = 0; i < numWorkers; i++) {
        auto worker = CreateNewWorker(i, workerQueue, workQueue, dispatchStatus);
        worker->Start();
    }

    // wait for work to be added then pass it off.
    csp::go([d = shared_from_this()] {
        for (;;) {
            csp::select(
                csp::case_recv(d->jobQueue, [&](std::shared_ptr<Job> job) {
                    std::printf("Got a job in the queue to dispatch: %d\n", job->ID);
                    // Sending it off;
                    d->workQueue.send(job);
                }),
                csp::case_recv(d->dispatchStatus, [&](std::shared_ptr<DispatchStatus> ds) {
                    std::printf("Got a dispatch status:\n\tType[%s] - ID[%d] - Status[%s]\n", ds->Type.c_str(),
                                ds->ID, ds->Status.c_str());
                    if (ds->Type == "worker") {
                        if (ds->Status == "quit") {
                            d->jobCounter--;
                        }
                    }
                }));
        }
    });
}

void Dispatcher::AddJob(JobExecutable je) {
    auto j = std::make_shared<Job>(Job{jobCounter, std::move(je)});
    csp::go([d = shared_from_this(), j] { d->jobQueue.send(j); });
    jobCounter++;
    std::printf("jobCounter is now: %d\n", jobCounter.load());
}

bool Dispatcher::Finished() const {
    if (jobCounter < 1) {
        return true;
    } else {
        return false;
    }
}

int main(int argc, char** argv) {
    const examples::time_scale scaled(argc, argv);  // --fast: 0.2 s and 0.4 s
    csp::run([scaled] {
        auto job1 = [scaled]() -> std::error_code {
            std::printf("job1: performing work.\n");
            csp::sleep_for(scaled(2s));
            std::printf("Work done.\n");
            return {};
        };

        auto job2 = [scaled]() -> std::error_code {
            std::printf("job2: performing work.\n");
            csp::sleep_for(scaled(4s));
            std::printf("Work done.\n");
            return {};
        };

        auto d = CreateNewDispatcher();
        d->AddJob(job1);
        d->AddJob(job2);
        d->Start(2);

        for (;;) {
            if (d->Finished()) {
                std::printf("All jobs finished.\n");
                break;
            }
            // Go preempts a goroutine that spins; cspfiber does not yet (a
            // scheduler issue is open), so on one scheduler thread this loop
            // would starve the dispatcher and the workers. Yielding each
            // time round lets them run (runtime.Gosched() in Go terms).
            csp::yield();
        }
    });
}
