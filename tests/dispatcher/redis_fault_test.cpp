// Several processes on one Redis queue, and the faults the issue names:
// kill -9 of one worker process mid-run, and Redis itself killed and
// restarted on its AOF mid-run. Workers are forked children that loop
// claim -> run -> complete and log every run to a file of their own:
//   "S <id>"  started (written before running it)
//   "D <id>"  its outcome was stored (complete() accepted it)
//   "R <id>"  its outcome was refused (the lease was lost meanwhile)
// A write(2) to the file survives kill -9, so the logs count executions.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "redis_test_util.hpp"

namespace {

using namespace std::chrono_literals;
using csp::job_state;
using namespace csp_test;

constexpr auto patience = 60s;

std::atomic<bool> stop_requested{false};

void log_line(int fd, char what, csp::task_id id) {
    std::string s = std::string(1, what) + " " + std::to_string(id) + "\n";
    (void)!::write(fd, s.data(), s.size());
}

// The child's loop; never returns. SIGTERM ends it between batches.
[[noreturn]] void worker_main(int port, const std::string& queue, const std::string& log,
                              std::chrono::microseconds work) {
    struct sigaction sa {};
    sa.sa_handler = [](int) { stop_requested = true; };
    ::sigaction(SIGTERM, &sa, nullptr);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    try {
        std::unique_ptr<csp::queue_backend> b;
        while (!b && !stop_requested) {
            try {
                b = csp::make_redis_backend("127.0.0.1", port, queue, short_lease());
            } catch (const std::exception&) {
                std::this_thread::sleep_for(10ms);  // Redis away: try again
            }
        }
        while (!stop_requested) {
            std::vector<csp::claimed_task> batch;
            try {
                batch = b->claim(16, 100ms);
            } catch (const std::exception&) {
                std::this_thread::sleep_for(10ms);
                continue;
            }
            for (const auto& t : batch) {
                log_line(fd, 'S', t.id);
                if (work.count()) std::this_thread::sleep_for(work);  // the task's work
                for (;;) {
                    try {
                        log_line(fd, b->complete(t, ok()) ? 'D' : 'R', t.id);
                        break;
                    } catch (const std::exception&) {
                        std::this_thread::sleep_for(10ms);  // Redis away: the outcome must be stored
                    }
                }
            }
        }
    } catch (...) {
        ::_exit(3);
    }
    ::_exit(0);
}

struct worker {
    pid_t pid = 0;
    std::string log;
};

worker spawn(int port, const std::string& queue, std::chrono::microseconds work, int n) {
    worker w;
    w.log = "/tmp/csp-redis-worker-" + std::to_string(::getpid()) + "-" + queue + "-" + std::to_string(n) + ".log";
    ::unlink(w.log.c_str());
    std::fflush(nullptr);
    w.pid = ::fork();
    if (w.pid == 0) worker_main(port, queue, w.log, work);
    return w;
}

// Ends a worker between batches; SIGKILL if it does not end in time.
void stop(worker& w) {
    if (w.pid <= 0) return;
    ::kill(w.pid, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + 10s;
    int status = 0;
    while (::waitpid(w.pid, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(w.pid, SIGKILL);
            ::waitpid(w.pid, &status, 0);
            ADD_FAILURE() << "worker " << w.pid << " did not stop";
            break;
        }
        std::this_thread::sleep_for(5ms);  // another process's exit
    }
    w.pid = 0;
}

struct workers_guard {  // no child outlives a failed test
    std::vector<worker>& ws;
    ~workers_guard() {
        for (auto& w : ws)
            if (w.pid > 0) {
                ::kill(w.pid, SIGKILL);
                ::waitpid(w.pid, nullptr, 0);
            }
        for (auto& w : ws) ::unlink(w.log.c_str());
    }
};

// Runs per task id: which worker ran it, and how each run ended.
struct runs {
    struct run {
        std::size_t worker;
        char outcome;  // 'D', 'R', or '?' (the process died while running it)
    };
    std::map<csp::task_id, std::vector<run>> by_id;
};

runs read_logs(const std::vector<worker>& ws) {
    runs r;
    for (std::size_t i = 0; i < ws.size(); ++i) {
        std::ifstream in(ws[i].log);
        char what;
        csp::task_id id;
        while (in >> what >> id) {
            auto& v = r.by_id[id];
            if (what == 'S') {
                v.push_back({i, '?'});
            } else {
                // The outcome of this worker's last run of id.
                for (auto it = v.rbegin(); it != v.rend(); ++it)
                    if (it->worker == i && it->outcome == '?') {
                        it->outcome = what;
                        break;
                    }
            }
        }
    }
    return r;
}

std::size_t log_size(const worker& w) {
    struct stat st {};
    return ::stat(w.log.c_str(), &st) == 0 ? static_cast<std::size_t>(st.st_size) : 0;
}

// Waits until the queue has `n` final tasks and nothing open.
bool wait_all_final(csp::queue_backend& b, std::uint64_t n) {
    auto deadline = std::chrono::steady_clock::now() + patience;
    while (std::chrono::steady_clock::now() < deadline) {
        try {
            auto s = b.stats();
            if (s.succeeded + s.failed + s.cancelled + s.timed_out >= n && s.queued + s.running + s.retrying + s.scheduled == 0)
                return true;
        } catch (const std::exception&) {
        }
        std::this_thread::sleep_for(20ms);  // other processes' progress
    }
    return false;
}

// Every task ran to exactly one stored outcome; a second run is explained:
// its first process died while running it (the killed one), or it lost its
// lease and its outcome was refused.
void check_runs(const runs& r, csp::task_id n, std::size_t killed, std::size_t& died_running,
                std::size_t& refused) {
    died_running = refused = 0;
    std::size_t unrun = 0, bad = 0;
    for (csp::task_id id = 1; id <= n; ++id) {
        auto it = r.by_id.find(id);
        if (it == r.by_id.end()) {
            ++unrun;
            continue;
        }
        std::size_t stored = 0, died = 0;
        for (const auto& run : it->second) {
            if (run.outcome == 'D') ++stored;
            else if (run.outcome == 'R') ++refused;
            else if (run.worker == killed) ++died;
            else if (++bad <= 5) ADD_FAILURE() << "task " << id << ": a live worker's run has no outcome";
        }
        died_running += died;
        // A run of the killed worker may have stored its outcome just before
        // the kill (it died before logging it); then no other run stores one.
        if ((stored > 1 || (stored == 0 && died == 0)) && ++bad <= 5)
            ADD_FAILURE() << "task " << id << " has " << stored << " stored outcomes";
    }
    EXPECT_EQ(unrun, 0u) << "tasks never run";
    EXPECT_EQ(bad, 0u);
    EXPECT_EQ(r.by_id.size(), n) << "runs of ids never enqueued";
}

TEST(RedisProcesses, ThreeWorkersOneKilledMidRun) {
    auto& r = shared_redis();
    auto q = fresh_queue();
    const std::uint64_t n = scaled<std::uint64_t>(10000, 400);
    std::vector<worker> ws;
    workers_guard guard{ws};
    auto b = open_redis(r, q);
    auto t = named("noop");
    t.max_attempts = 3;  // a run lost with its process is run again
    for (std::uint64_t i = 0; i < n; ++i) b->enqueue(t);
    // The queue is full: each worker's first claim takes a batch of 16. The
    // victim works slowly (2 ms a task), so it dies inside its first batch
    // holding deliveries it has not run yet.
    ws.push_back(spawn(r.port(), q, 2000us, 0));
    ws.push_back(spawn(r.port(), q, 0us, 1));
    ws.push_back(spawn(r.port(), q, 0us, 2));

    // Kill the victim once it has logged three lines ("S 1\n" is the shortest).
    auto deadline = std::chrono::steady_clock::now() + patience;
    while (log_size(ws[0]) < 12 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    ASSERT_GE(log_size(ws[0]), 12u) << "the victim never ran anything";
    ::kill(ws[0].pid, SIGKILL);
    ::waitpid(ws[0].pid, nullptr, 0);
    ws[0].pid = 0;

    ASSERT_TRUE(wait_all_final(*b, n)) << "not every task reached a final state";
    stop(ws[1]);
    stop(ws[2]);
    auto s = b->stats();
    EXPECT_EQ(s.succeeded, n);
    EXPECT_EQ(s.failed + s.cancelled + s.timed_out, 0u);

    std::size_t died = 0, refused = 0;
    check_runs(read_logs(ws), n, 0, died, refused);
    // The victim's deliveries at its death came back to the others.
    std::size_t reclaimed = 0;
    for (const auto& rec : b->list(n)) reclaimed += rec.attempts > 1;
    EXPECT_GE(reclaimed, 1u) << "nothing of the killed worker was reclaimed";
    std::printf("[ redis    ] %llu tasks, 3 workers, one killed: %zu reclaimed, %zu runs died with it, "
                "%zu outcomes refused (lease lost by a stalled live worker)\n",
                static_cast<unsigned long long>(n), reclaimed, died, refused);
}

TEST(RedisProcesses, RedisRestartedMidRunLosesNothing) {
    redis_server r;
    auto q = fresh_queue();
    const std::uint64_t n = scaled<std::uint64_t>(3000, 300);
    std::vector<worker> ws;
    workers_guard guard{ws};
    ws.push_back(spawn(r.port(), q, 0us, 0));
    ws.push_back(spawn(r.port(), q, 0us, 1));
    auto b = open_redis(r, q);
    auto t = named("noop");
    t.max_attempts = 3;  // a delivery whose reply died with the server is run later
    std::vector<csp::task_id> accepted;
    std::size_t refused_calls = 0;
    auto deadline = std::chrono::steady_clock::now() + patience;
    bool crashed = false;
    std::chrono::steady_clock::time_point back_at;
    while (accepted.size() < n && std::chrono::steady_clock::now() < deadline) {
        if (accepted.size() == n / 3 && !crashed) {
            r.kill();  // a crash: the AOF (appendfsync always) has every acknowledged write
            crashed = true;
            back_at = std::chrono::steady_clock::now() + 300ms;  // an outage the workers run into
            EXPECT_THROW(b->enqueue(t), std::runtime_error);
        }
        if (!r.running() && std::chrono::steady_clock::now() >= back_at) r.start();
        try {
            accepted.push_back(b->enqueue(t).id);
        } catch (const std::runtime_error&) {
            ++refused_calls;  // away, or reconnecting: the caller tries again
            std::this_thread::sleep_for(10ms);
        }
    }
    ASSERT_EQ(accepted.size(), n);
    ASSERT_TRUE(wait_all_final(*b, n)) << "not every task reached a final state";
    for (auto& w : ws) stop(w);
    std::size_t lost = 0;
    for (auto id : accepted) {
        auto rec = b->find(id);
        if (!rec || rec->state != job_state::succeeded) {
            if (++lost <= 5) ADD_FAILURE() << "accepted task " << id << " is " << (rec ? to_string(rec->state) : "gone");
        }
    }
    EXPECT_EQ(lost, 0u);
    std::size_t died = 0, refused = 0;
    check_runs(read_logs(ws), accepted.back(), ws.size(), died, refused);
    std::printf("[ redis    ] %llu tasks through a Redis crash: %zu calls failed while it was away, %zu outcomes refused\n",
                static_cast<unsigned long long>(n), refused_calls, refused);
}

}  // namespace
