// Port of timeouts.go: a select between a result and csp::after(d); then the
// same with cspfiber's one-channel shortcut, recv_for (a select with
// time.After on one channel).
//
// --fast divides every duration by 10, `--speedup N` by N. The margins (1s
// either side of the 2s result) keep the output deterministic; the test
// runs with --speedup 4 (250ms margins on a busy machine).
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

#include <chan/chan.hpp>
#include <chan/select.hpp>
#include <chan/time.hpp>
#include <fiber/go.hpp>
#include <fiber/sleep.hpp>

#include "example.hpp"

using namespace std::chrono_literals;

int main(int argc, char** argv) {
    const examples::time_scale scaled(argc, argv);
    csp::run([scaled] {
        auto print_result = [](std::optional<std::string> res) { std::printf("%s\n", res.value_or("").c_str()); };

        // A result that takes 2s against a 1s timeout: the timeout wins.
        csp::chan<std::string> c1(1);  // buffered: the late sender does not block forever
        csp::go([=] {
            csp::sleep_for(scaled(2s));
            c1.send("result 1");
        });
        csp::select(csp::case_recv(c1, print_result),
                    csp::case_recv(csp::after(scaled(1s)), [](auto) { std::printf("timeout 1\n"); }));

        // The same with a 3s timeout: the result wins.
        csp::chan<std::string> c2(1);
        csp::go([=] {
            csp::sleep_for(scaled(2s));
            c2.send("result 2");
        });
        csp::select(csp::case_recv(c2, print_result),
                    csp::case_recv(csp::after(scaled(3s)), [](auto) { std::printf("timeout 2\n"); }));

        // The late result 1 did arrive: it waited in c1's buffer.
        std::printf("late: %s\n", c1.recv()->c_str());

        // Both races on one channel: a 1s timeout, then a 3s one, each a
        // select with time.After on one channel: recv_for.
        csp::chan<std::string> c3(1);
        csp::go([=] {
            csp::sleep_for(scaled(2s));
            c3.send("result 3");
        });
        if (auto res = c3.recv_for(scaled(1s)))
            std::printf("%s\n", res->c_str());
        else
            std::printf("timeout 3\n");
        if (auto res = c3.recv_for(scaled(3s)))
            std::printf("%s\n", res->c_str());
        else
            std::printf("timeout 4\n");
    });
}
