// Port of supervisor.ex: a supervisor goroutine restarts a crashing worker
// (a server_process whose handler throws), at most 3 times in 5 seconds,
// then gives up. The worker's goroutine is linked to the supervisor: its
// exit reason arrives on the supervisor's `exits` channel (Erlang's
// trap_exit). A restart serves the same mailbox, so clients keep their
// handle (a registered name); unlike a BEAM mailbox, messages queued at
// the crash survive it.
#include <chrono>
#include <cstdio>
#include <deque>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

#include <chan/chan.hpp>
#include <fiber/go.hpp>

#include "server_process.hpp"

using namespace std::chrono_literals;
using examples::call_error;
using examples::exit_signal;
using examples::server_process;

struct calculator {
    // callbacks for server_process, with links
    using state = long;
    struct value {};   // :value
    struct divide {    // {:divide, n}
        long n;
    };
    using call_request = std::variant<value, divide>;
    using reply = long;
    using cast_request = long;  // {:add, n}

    state init() { return 0; }
    state handle_cast(cast_request n, state s) { return s + n; }
    std::pair<reply, state> handle_call(call_request request, state s) {
        if (std::holds_alternative<value>(request)) return {s, s};
        long n = std::get<divide>(request).n;
        if (n == 0) throw std::domain_error("badarith");  // crashes on 0, like div(100, 0)
        return {100 / n, s};
    }
};

// supervise starts a linked worker with `callback` and restarts it when it
// crashes, at most 3 times in 5 seconds; then it gives up, unregisters the
// name and closes `down`. Returns the name: the handle clients use.
server_process<calculator> supervise(calculator callback, csp::chan<csp::unit> down) {
    csp::chan<exit_signal> exits;
    auto name = server_process<calculator>::start_link(callback, exits);
    csp::go([=] {
        std::deque<std::chrono::steady_clock::time_point> restarts;
        for (exit_signal exit : exits) {
            const auto now = std::chrono::steady_clock::now();
            restarts.push_back(now);
            while (restarts.front() <= now - 5s) restarts.pop_front();

            if (restarts.size() > 3) {
                std::printf("supervisor: worker exited (%s); too many restarts, giving up\n", exit.reason.c_str());
                name.stop();
                down.close();
                return;
            }
            std::printf("supervisor: worker exited (%s); restart %zu\n", exit.reason.c_str(), restarts.size());
            name.restart(callback, exits);
        }
    });
    return name;
}

// inspect prints a call's result as IO.inspect would.
void inspect(const examples::call_result<long>& r) {
    switch (r.error) {
        case call_error::none: std::printf("%ld\n", *r.reply); break;
        case call_error::timeout: std::printf("{:error, :timeout}\n"); break;
        case call_error::exited: std::printf("{:error, :exited}\n"); break;
        case call_error::noproc: std::printf("{:error, :noproc}\n"); break;
    }
}

int main() {
    csp::run([] {
        csp::chan<csp::unit> down;
        auto calc = supervise(calculator{}, down);
        calc.cast(2);
        inspect(calc.call(calculator::value{}));      // 2
        inspect(calc.call(calculator::divide{4}));    // 25
        inspect(calc.call(calculator::divide{0}));    // the worker crashes: {:error, :exited}
        inspect(calc.call(calculator::value{}));      // 0: a fresh worker, fresh state
        for (int i = 0; i < 3; ++i) calc.call(calculator::divide{0});  // three more crashes
        down.recv();                                  // the supervisor gave up
        inspect(calc.call(calculator::value{}));      // {:error, :noproc}
    });
}
