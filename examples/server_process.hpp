// A generic server process, after seed 004's ServerProcess: the generic
// code spawns the goroutine, runs its loop, keeps its state, receives
// messages and sends responses; a callback object plugs in what is
// specific (Elixir's callback module): the initial state and how each
// request is handled.
//
//   struct counter {                                  // the callback module
//       using state = int;
//       using call_request = std::string;             // what a call asks
//       using reply = int;                            // what it answers
//       using cast_request = int;                     // what a cast says
//       state init() { return 0; }
//       std::pair<reply, state> handle_call(call_request, state n) { return {n, n}; }
//       state handle_cast(cast_request d, state n) { return n + d; }
//   };
//   auto server = server_process<counter>::start(counter{});
//   server.cast(5);
//   server.call("get");   // call_result: .reply == 5
//
// A server can be linked: if a handler throws, the goroutine ends (its
// state with it, as a crashed BEAM process's), the caller whose request
// crashed it gets `exited`, and the exit reason goes to the link (a
// supervisor). `restart` runs a new goroutine on the same mailbox, which
// plays the part of a registered name: clients keep their handle.
#pragma once
#include <chrono>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include <chan/chan.hpp>
#include <chan/time.hpp>
#include <fiber/go.hpp>

namespace examples {

/// Why a linked server ended (an Erlang exit signal).
struct exit_signal {
    std::string reason;
};

enum class call_error { none, timeout, exited, noproc };

template <class Reply>
struct call_result {
    std::optional<Reply> reply;  // set when error == none
    call_error error = call_error::none;
};

template <class Callback>
class server_process {
public:
    using state = typename Callback::state;
    using call_request = typename Callback::call_request;
    using reply = typename Callback::reply;
    using cast_request = typename Callback::cast_request;

    /// ServerProcess.start(callback_module): spawns the server's goroutine.
    static server_process start(Callback callback) { return start_link(std::move(callback), {}); }

    /// start, linked: a crash's reason is sent on `link`.
    static server_process start_link(Callback callback, csp::send_chan<exit_signal> link) {
        server_process server;
        server.restart(std::move(callback), link);
        return server;
    }

    /// A new goroutine serving this server's mailbox (after a crash).
    void restart(Callback callback, csp::send_chan<exit_signal> link) const {
        csp::go(loop, std::move(callback), mailbox_, link);
    }

    /// A synchronous request; waits for the reply at most `timeout`.
    call_result<reply> call(call_request request, csp::duration timeout = std::chrono::seconds(5)) const {
        csp::chan<reply> caller(1);  // self(); one slot, so a late reply never blocks the server
        try {
            mailbox_.send(call_msg{std::move(request), caller});
        } catch (const csp::closed_channel_error&) {
            return {std::nullopt, call_error::noproc};
        }
        auto r = caller.recv_for(timeout);
        if (r) return {std::move(r.value), call_error::none};
        return {std::nullopt, r.status == csp::chan_status::closed ? call_error::exited : call_error::timeout};
    }

    /// An asynchronous request: fire and forget (dropped if the server is gone).
    void cast(cast_request request) const {
        try {
            mailbox_.send(cast_msg{std::move(request)});
        } catch (const csp::closed_channel_error&) {
        }
    }

    /// Unregisters the name: the current goroutine ends once the mailbox is
    /// drained; later calls get noproc.
    void stop() const { mailbox_.close(); }

private:
    struct call_msg {  // {:call, request, caller}
        call_request request;
        csp::chan<reply> caller;
    };
    struct cast_msg {  // {:cast, request}
        cast_request request;
    };
    using message = std::variant<call_msg, cast_msg>;

    server_process() : mailbox_(1024) {}

    static void loop(Callback callback, csp::recv_chan<message> mailbox, csp::send_chan<exit_signal> link) {
        csp::chan<reply> in_call = csp::chan<reply>::nil();  // the caller being served
        try {
            state s = callback.init();
            for (message msg : mailbox) {
                if (auto* call = std::get_if<call_msg>(&msg)) {
                    in_call = call->caller;
                    auto [response, new_state] = callback.handle_call(std::move(call->request), std::move(s));
                    call->caller.send(std::move(response));
                    s = std::move(new_state);
                    in_call = csp::chan<reply>::nil();
                } else {
                    s = callback.handle_cast(std::move(std::get<cast_msg>(msg).request), std::move(s));
                }
            }
        } catch (const std::exception& e) {
            if (!in_call.is_nil()) in_call.close();  // the caller learns the server exited
            if (link.is_nil())
                std::fprintf(stderr, "server process exited: %s\n", e.what());
            else
                link.send(exit_signal{e.what()});
        }
    }

    csp::chan<message> mailbox_;
};

}  // namespace examples
