// Draft measurement (not built by meson; for the bench/ owner to adopt):
// tiny jobs (add two numbers) through the dispatcher vs. a bare channel
// worker pool, with W workers. Prints ns per job.
//   g++ -std=c++20 -O2 -I../.. tiny_jobs.cpp -L../../build/dispatcher -L../../build \
//       -lcspdispatcher -lcspfiber -lboost_fiber -lboost_context -pthread
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <chan/chan.hpp>
#include <dispatcher/dispatcher.hpp>
#include <fiber/go.hpp>
#include <fiber/wait_group.hpp>

namespace {

double per_job_ns(std::chrono::steady_clock::duration d, int n) {
    return std::chrono::duration<double, std::nano>(d).count() / n;
}

double dispatcher_run(std::size_t workers, int n) {
    csp::dispatcher d(workers);
    std::vector<csp::job_handle<int>> hs;
    hs.reserve(static_cast<std::size_t>(n));
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) hs.push_back(d.submit([i] { return i + 1; }));
    d.wait_all();
    const auto t = std::chrono::steady_clock::now() - t0;
    long sum = 0;
    for (auto& h : hs) sum += h.get();
    if (sum == 0) std::abort();
    return per_job_ns(t, n);
}

double bare_pool_run(std::size_t workers, int n) {
    csp::chan<int> jobs(256);
    csp::chan<long> results(workers);
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t w = 0; w < workers; ++w)
        csp::go([jobs, results] {
            long s = 0;
            for (int j : jobs) s += j + 1;
            results.send(s);
        });
    for (int i = 0; i < n; ++i) jobs.send(i);
    jobs.close();
    long sum = 0;
    for (std::size_t w = 0; w < workers; ++w) sum += *results.recv();
    const auto t = std::chrono::steady_clock::now() - t0;
    if (sum == 0) std::abort();
    return per_job_ns(t, n);
}

}  // namespace

int main() {
    csp::run([] {
        const int n = 200000;
        for (std::size_t w : {4, 64})
            std::printf("workers %3zu: dispatcher %7.0f ns/job, bare channel pool %5.0f ns/job\n", w,
                        dispatcher_run(w, n), bare_pool_run(w, n));
    });
}
