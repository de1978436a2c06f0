// The cost of moving a cache line between the two CPUs: two threads, pinned
// to CPU 0 and CPU 1, hand one atomic back and forth. On this VM it reads
// 50-60 ns most of the time and 320-350 ns in spells when the host places the
// vCPUs far apart; rows at 2 threads (spawn_join above all, Go's too) slow
// down with it (bench/RESULTS.md, session 10). Run it beside a benchmark to
// tell which spell a run fell in.
//
//   build-bench/bench/c2c [round trips]      (default 200000)
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace {

alignas(64) std::atomic<long> token{0};

void pin_to(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

}  // namespace

int main(int argc, char** argv) {
    const long trips = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 200000;
    std::thread other([trips] {
        pin_to(1);
        for (long i = 0; i < trips; ++i) {
            while (token.load(std::memory_order_acquire) != 2 * i + 1) {}
            token.store(2 * i + 2, std::memory_order_release);
        }
    });
    pin_to(0);
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < trips; ++i) {
        token.store(2 * i + 1, std::memory_order_release);
        while (token.load(std::memory_order_acquire) != 2 * i + 2) {}
    }
    const auto t1 = std::chrono::steady_clock::now();
    other.join();
    std::printf("round trip %.1f ns\n", std::chrono::duration<double, std::nano>(t1 - t0).count() / trips);
}
