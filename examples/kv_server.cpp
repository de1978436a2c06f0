// Port of kv_server.ex: a stateful server goroutine, a key-value store.
// The goroutine's loop owns the state (no lock: nobody else can touch it);
// clients talk to it through its mailbox channel. A cast (put) is a send;
// a call (get) sends a reply channel along -- the caller's self() -- and
// waits on it with a timeout, like `receive ... after`.
//
// A BEAM mailbox is unbounded; this one is a buffered channel (senders
// wait when 1024 messages are pending). --fast divides durations by 10.
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <variant>

#include <chan/chan.hpp>
#include <chan/time.hpp>
#include <fiber/go.hpp>
#include <fiber/sleep.hpp>
#include <fiber/wait_group.hpp>

#include "example.hpp"

using namespace std::chrono_literals;

namespace key_value_store {

using value = std::optional<std::string>;  // nil when absent

struct put_msg {  // {:put, key, value}
    std::string key, value;
};
struct get_msg {  // {:get, caller, key}
    csp::chan<value> caller;
    std::string key;
};
struct busy_msg {  // {:busy, ms}
    csp::duration d;
};
using message = std::variant<put_msg, get_msg, busy_msg>;
using pid = csp::chan<message>;

void loop(pid self) {
    std::map<std::string, std::string> state;
    for (message msg : self) {
        if (auto* put = std::get_if<put_msg>(&msg)) {
            state[put->key] = put->value;
        } else if (auto* get = std::get_if<get_msg>(&msg)) {
            auto it = state.find(get->key);
            get->caller.send(it == state.end() ? value() : value(it->second));
        } else {
            // simulate a long-running operation
            csp::sleep_for(std::get<busy_msg>(msg).d);
        }
    }
}

pid start() {
    pid self(1024);
    csp::go(loop, self);
    return self;
}

// cast: asynchronous, fire and forget
void put(const pid& server, std::string key, std::string v) { server.send(put_msg{std::move(key), std::move(v)}); }

void busy(const pid& server, csp::duration d) { server.send(busy_msg{d}); }

struct timeout_error {  // {:error, :timeout}
    friend bool operator==(timeout_error, timeout_error) = default;
};
using get_result = std::variant<value, timeout_error>;

// call: synchronous, with a timeout. The reply channel holds one value, so a
// response that comes too late never blocks the server (in Erlang it would
// wait in the caller's mailbox; here it goes with the channel).
get_result get(const pid& server, std::string key, csp::duration timeout = 5s) {
    csp::chan<value> caller(1);
    server.send(get_msg{caller, std::move(key)});
    auto response = caller.recv_for(timeout);
    if (!response) return timeout_error{};
    return *response;
}

}  // namespace key_value_store

namespace kv = key_value_store;

// inspect prints a result as Elixir's IO.inspect would.
void inspect(const kv::get_result& r) {
    if (std::holds_alternative<kv::timeout_error>(r))
        std::printf("{:error, :timeout}\n");
    else if (const auto& v = std::get<kv::value>(r))
        std::printf("\"%s\"\n", v->c_str());
    else
        std::printf("nil\n");
}

int main(int argc, char** argv) {
    const examples::time_scale scaled(argc, argv);
    csp::run([scaled] {
        auto pid = kv::start();
        kv::put(pid, "rose", "red");
        kv::put(pid, "violet", "blue");
        inspect(kv::get(pid, "rose"));   // "red"
        inspect(kv::get(pid, "tulip"));  // nil
        kv::busy(pid, scaled(2000ms));
        inspect(kv::get(pid, "violet", scaled(500ms)));  // {:error, :timeout}
        inspect(kv::get(pid, "violet"));                 // "blue"

        // 100 clients, each puts its own key and reads it back.
        csp::chan<bool> answers(100);
        for (int i = 1; i <= 100; ++i) {
            csp::go([=] {
                kv::put(pid, std::to_string(i), std::to_string(i * i));
                answers.send(kv::get(pid, std::to_string(i)) == kv::get_result(std::to_string(i * i)));
            });
        }
        bool all = true;
        for (int i = 1; i <= 100; ++i) all = *answers.recv() && all;  // never closed
        std::printf("%s\n", all ? "true" : "false");  // true
    });
}
