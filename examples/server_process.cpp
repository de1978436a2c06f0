// Port of server_process.ex: the generic server (server_process.hpp) with
// two callback objects plugged in, a key-value store and a counter.
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include <fiber/go.hpp>

#include "server_process.hpp"

using examples::server_process;

struct key_value_store {
    using state = std::map<std::string, std::string>;
    using call_request = std::string;  // {:get, key}
    using reply = std::optional<std::string>;
    struct cast_request {  // {:put, key, value}
        std::string key, value;
    };

    // interface functions, run by clients
    static server_process<key_value_store> start() { return server_process<key_value_store>::start({}); }
    static void put(const server_process<key_value_store>& pid, std::string key, std::string value) {
        pid.cast({std::move(key), std::move(value)});
    }
    static reply get(const server_process<key_value_store>& pid, std::string key) {
        return pid.call(std::move(key)).reply.value_or(std::nullopt);  // nil on a timeout, too
    }

    // callbacks, run by the server goroutine
    state init() { return {}; }
    state handle_cast(cast_request put, state s) {
        s[put.key] = put.value;
        return s;
    }
    std::pair<reply, state> handle_call(call_request key, state s) {
        auto it = s.find(key);
        reply r = it == s.end() ? reply() : reply(it->second);
        return {std::move(r), std::move(s)};
    }
};

struct counter {
    // a second callback object on the same generic code
    using state = long;
    using call_request = csp::unit;  // :value
    using reply = long;
    using cast_request = long;  // {:add, n}

    state init() { return 0; }
    state handle_cast(cast_request n, state s) { return s + n; }
    std::pair<reply, state> handle_call(call_request, state s) { return {s, s}; }
};

int main() {
    csp::run([] {
        auto pid = key_value_store::start();
        key_value_store::put(pid, "rose", "red");
        std::printf("%s\n", key_value_store::get(pid, "rose").value_or("nil").c_str());   // red
        std::printf("%s\n", key_value_store::get(pid, "tulip").value_or("nil").c_str());  // nil

        auto count = server_process<counter>::start(counter{});
        for (long i = 1; i <= 10; ++i) count.cast(i);
        std::printf("%ld\n", *count.call(csp::unit{}).reply);  // 55
    });
}
