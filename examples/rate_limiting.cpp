// Port of rate_limiting.go: a ticker paces requests, one per tick; a
// buffered channel of 3 tokens, refilled by the ticker, allows a burst.
//
// Times vary from run to run; what the port checks is what a limiter
// promises: no request is served before its tick (lower bounds, which hold
// however busy the machine is). --fast divides the 200ms period by 10.
#include <chrono>
#include <cstdio>

#include <chan/chan.hpp>
#include <chan/time.hpp>
#include <fiber/go.hpp>

#include "example.hpp"

using namespace std::chrono_literals;
using std::chrono::steady_clock;

int main(int argc, char** argv) {
    const examples::time_scale scaled(argc, argv);
    csp::run([scaled] {
        const auto start = steady_clock::now();
        const auto period = scaled(200ms);
        auto since_start = [&] {
            return std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - start).count();
        };

        // Five requests, served at most one per tick of 200ms.
        csp::chan<int> requests(5);
        for (int i = 1; i <= 5; ++i) requests.send(i);
        requests.close();

        const auto limiter_start = steady_clock::now();
        auto limiter = csp::tick(period);
        for (int req : requests) {
            limiter.recv();
            std::printf("request %d %lldms\n", req, static_cast<long long>(since_start()));
            examples::check(steady_clock::now() >= limiter_start + req * period,
                            "a request was served before its tick");
        }

        // A bursty limiter: up to 3 requests at once, then one per tick.
        csp::chan<steady_clock::time_point> bursty_limiter(3);
        for (int i = 0; i < 3; ++i) bursty_limiter.send(steady_clock::now());
        const auto bursty_start = steady_clock::now();
        csp::go([=] {
            for (auto t : csp::tick(period)) bursty_limiter.send(t);
        });

        csp::chan<int> bursty_requests(5);
        for (int i = 1; i <= 5; ++i) bursty_requests.send(i);
        bursty_requests.close();
        for (int req : bursty_requests) {
            bursty_limiter.recv();
            std::printf("bursty request %d %lldms\n", req, static_cast<long long>(since_start()));
            // The first three take the burst's tokens; the rest wait for ticks.
            if (req > 3)
                examples::check(steady_clock::now() >= bursty_start + (req - 3) * period,
                                "a bursty request beyond the burst was served before its tick");
        }
        std::printf("no request was served before its tick\n");
    });
}
