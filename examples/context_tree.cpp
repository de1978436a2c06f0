// Port of context_tree.go: cancellation flows down a tree of contexts.
// Cancelling the root stops subtree a's workers (context canceled); subtree
// b's timeout stops its own workers first (context deadline exceeded),
// while a's keep working. --fast divides the durations by 10.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <chan/chan.hpp>
#include <chan/context.hpp>
#include <chan/select.hpp>
#include <chan/time.hpp>
#include <fiber/go.hpp>
#include <fiber/wait_group.hpp>

#include "defer.hpp"
#include "example.hpp"

using namespace std::chrono_literals;

struct report {
    std::string name;
    csp::context_error err;
};

// worker works in rounds until its context is done, then reports why.
void worker(csp::context ctx, std::string name, csp::wait_group* started, csp::wait_group* stopped,
            csp::send_chan<report> reports, examples::time_scale scaled) {
    examples::defer stop([&] { stopped->done(); });
    started->done();
    int rounds = 0;
    for (;;) {
        bool done = false;
        csp::select(csp::case_recv(ctx.done(), [&](auto) { done = true; }),
                    csp::case_recv(csp::after(scaled(10ms)), [&](auto) { ++rounds; }));  // a round of work
        if (done) {
            reports.send(report{name, ctx.err()});
            return;
        }
    }
}

// subtree starts three workers under ctx, named name.0 .. name.2.
void subtree(csp::context ctx, const std::string& name, csp::wait_group* started, csp::wait_group* stopped,
             csp::send_chan<report> reports, examples::time_scale scaled) {
    for (int i = 0; i < 3; ++i) {
        started->add(1);
        stopped->add(1);
        csp::go(worker, ctx, name + "." + std::to_string(i), started, stopped, reports, scaled);
    }
}

// print_sorted prints n reports in name order (they arrive in any order).
void print_sorted(csp::recv_chan<report> reports, int n) {
    std::vector<report> got;
    for (int i = 0; i < n; ++i) got.push_back(*reports.recv());  // never closed
    std::sort(got.begin(), got.end(), [](const report& x, const report& y) { return x.name < y.name; });
    for (const auto& r : got) std::printf("%s stopped: %s\n", r.name.c_str(), csp::to_string(r.err));
}

int main(int argc, char** argv) {
    const examples::time_scale scaled(argc, argv);
    csp::run([scaled] {
        csp::chan<report> reports(6);
        csp::wait_group started, stopped_a, stopped_b;

        auto [root, cancel] = csp::with_cancel(csp::background());
        auto [a, cancel_a] = csp::with_cancel(root);
        examples::defer defer_cancel_a([&] { cancel_a(); });
        auto [b, cancel_b] = csp::with_timeout(root, scaled(500ms));
        examples::defer defer_cancel_b([&] { cancel_b(); });

        subtree(a, "a", &started, &stopped_a, reports, scaled);
        subtree(b, "b", &started, &stopped_b, reports, scaled);
        started.wait();
        std::printf("6 workers started\n");

        // b times out on its own; a keeps working.
        stopped_b.wait();
        print_sorted(reports, 3);
        std::printf("a still running: %s\n", a.err() == csp::context_error::none ? "true" : "false");

        cancel();  // the root: a and everything under it
        stopped_a.wait();
        print_sorted(reports, 3);
        std::printf("root: %s - every goroutine stopped\n", csp::to_string(root.err()));
    });
}
