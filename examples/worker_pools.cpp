// Go by Example's "Worker Pools", line for line:
//
//   func worker(id int, jobs <-chan int, results chan<- int) {
//       for j := range jobs {
//           fmt.Println("worker", id, "started  job", j)
//           time.Sleep(time.Second)
//           fmt.Println("worker", id, "finished job", j)
//           results <- j * 2
//       }
//   }
#include <chrono>
#include <cstdio>

#include <chan/chan.hpp>
#include <fiber/go.hpp>
#include <fiber/sleep.hpp>

using namespace std::chrono_literals;

void worker(int id, csp::recv_chan<int> jobs, csp::send_chan<int> results) {
    for (int j : jobs) {
        std::printf("worker %d started  job %d\n", id, j);
        csp::sleep_for(100ms);
        std::printf("worker %d finished job %d\n", id, j);
        results.send(j * 2);
    }
}

int main() {
    csp::run([] {
        const int num_jobs = 5;
        csp::chan<int> jobs(num_jobs);
        csp::chan<int> results(num_jobs);

        for (int w = 1; w <= 3; ++w) csp::go(worker, w, jobs, results);

        for (int j = 1; j <= num_jobs; ++j) jobs.send(j);
        jobs.close();

        int sum = 0;
        for (int a = 1; a <= num_jobs; ++a) sum += results.recv_or_zero();
        std::printf("all %d results in, sum %d\n", num_jobs, sum);
    });
}
