// Port of pipeline.go: gen -> sq (fanned out) -> merge (fanned in), with a
// `done` channel whose closing stops every stage.
#include <cstdio>
#include <initializer_list>
#include <memory>
#include <numeric>
#include <vector>

#include <chan/chan.hpp>
#include <chan/select.hpp>
#include <fiber/go.hpp>
#include <fiber/wait_group.hpp>

#include "defer.hpp"

using done_chan = csp::recv_chan<csp::unit>;

csp::wait_group running;

// gen sends nums on the channel it returns, then closes it; it gives up
// early once done is closed.
csp::recv_chan<int> gen(done_chan done, std::vector<int> nums) {
    csp::chan<int> out;
    running.add(1);
    csp::go([=] {
        examples::defer leave([] { running.done(); });
        examples::defer close_out([&] { out.close(); });
        for (int n : nums) {
            bool cancelled = false;
            csp::select(csp::case_send(out, n),
                        csp::case_recv(done, [&](auto) { cancelled = true; }));
            if (cancelled) return;
        }
    });
    return out;
}

// sq sends the square of every value from in, until in closes or done does.
csp::recv_chan<int> sq(done_chan done, csp::recv_chan<int> in) {
    csp::chan<int> out;
    running.add(1);
    csp::go([=] {
        examples::defer leave([] { running.done(); });
        examples::defer close_out([&] { out.close(); });
        for (int n : in) {
            bool cancelled = false;
            csp::select(csp::case_send(out, n * n),
                        csp::case_recv(done, [&](auto) { cancelled = true; }));
            if (cancelled) return;
        }
    });
    return out;
}

// merge fans in: one goroutine per input copies it to out; out closes when
// every input is exhausted or done closes.
csp::recv_chan<int> merge(done_chan done, std::initializer_list<csp::recv_chan<int>> cs) {
    auto wg = std::make_shared<csp::wait_group>();  // outlives merge: its goroutines use it
    csp::chan<int> out;

    auto output = [=](csp::recv_chan<int> c) {
        examples::defer leave([] { running.done(); });
        examples::defer wg_done([&] { wg->done(); });
        for (int n : c) {
            bool cancelled = false;
            csp::select(csp::case_send(out, n),
                        csp::case_recv(done, [&](auto) { cancelled = true; }));
            if (cancelled) return;
        }
    };
    wg->add(static_cast<long>(cs.size()));
    for (const auto& c : cs) {
        running.add(1);
        csp::go(output, c);
    }

    running.add(1);
    csp::go([=] {
        examples::defer leave([] { running.done(); });
        wg->wait();
        out.close();
    });
    return out;
}

int main() {
    csp::run([] {
        // Fan-out to three squarers, fan-in, and read everything.
        csp::chan<csp::unit> done;
        std::vector<int> nums(100);
        std::iota(nums.begin(), nums.end(), 1);
        auto in = gen(done, nums);
        auto out = merge(done, {sq(done, in), sq(done, in), sq(done, in)});
        int sum = 0;
        for (int v : out) sum += v;
        std::printf("sum of the squares of 1..100: %d\n", sum);
        done.close();
        running.wait();

        // Cancellation: read one value, then close done; every stage returns.
        done = csp::chan<csp::unit>();
        in = gen(done, {2, 3});
        auto c1 = sq(done, in);
        auto c2 = sq(done, in);
        out = merge(done, {c1, c2});
        std::printf("first value: %d\n", *out.recv());  // 4 or 9; out is open until done closes
        done.close();
        running.wait();
        std::printf("every stage stopped\n");
    });
}
