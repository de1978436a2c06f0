// csp::redis::connection: one hiredis connection that reconnects, with
// backoff, after the server went away. Not thread-safe: one caller at a time
// (the backend guards each connection with a mutex, or gives it to one
// thread). Every call blocks the calling thread: never a scheduler thread.
//
//   redis::connection c("127.0.0.1", 6379, 5s);
//   redis::reply r = c.command({"INCR", "csp:{q}:id"});   // throws std::runtime_error
//
// Invariants:
// - ctx_ is null or a connection that has not failed; after an I/O error it
//   is freed at once (hiredis leaves a failed context unusable), so the next
//   call reconnects.
// - While the server is away, a call reconnects at most once per backoff
//   interval (20 ms doubling to 1 s) and otherwise fails at once: callers
//   get a clear error quickly, and a dead server is not hammered.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

struct redisContext;
struct redisReply;

namespace csp::redis {

struct reply_free {
    void operator()(redisReply* r) const noexcept;
};
using reply = std::unique_ptr<redisReply, reply_free>;

/// An error reply from the server (a command or script refused), as opposed
/// to the server being unreachable (plain std::runtime_error).
class server_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class connection {
public:
    /// `reached`, shared by the connections of one backend, counts their
    /// successful connects: once one of them reached the server again, the
    /// others skip the rest of their backoff.
    connection(std::string host, int port, std::chrono::milliseconds io_timeout,
               std::shared_ptr<std::atomic<std::uint64_t>> reached = nullptr);
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Sends one command, returns its reply. Throws server_error for an
    /// error reply, std::runtime_error naming the server if it cannot be
    /// reached (the connection is then re-made on a later call).
    reply command(const std::vector<std::string>& argv);
    /// As command(), with a reply timeout of its own for this call
    /// (XREADGROUP BLOCK: its block time plus a margin).
    reply command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);
    /// Sends a command without waiting for its reply (read it with
    /// next_push): a blocking read whose end the caller times itself.
    void send(const std::vector<std::string>& argv);
    /// Reads the next reply (a SUBSCRIBE message, or the answer to send());
    /// null when none came within `wait`. Throws as command() on a broken
    /// connection.
    reply next_push(std::chrono::milliseconds wait);
    /// Closes the connection (a reply still owed would confuse the next
    /// command); the next call connects again.
    void drop();
    /// Connects now if it is not connected (the backoff applies).
    void ensure();
    /// The server's id of this client (CLIENT ID), valid since the last connect.
    std::int64_t client_id() const { return client_id_; }
    /// How many times it connected (a new connection loses its subscriptions).
    std::uint64_t generation() const { return generation_; }
    /// "redis at HOST:PORT", for error texts.
    const std::string& name() const { return name_; }

private:
    reply exchange(const std::vector<std::string>& argv, bool send, bool read = true);
    [[noreturn]] void fail(const std::string& what);
    void set_timeout(std::chrono::milliseconds t);

    std::string host_;
    int port_;
    std::string name_;
    std::chrono::milliseconds io_timeout_;
    std::chrono::milliseconds current_timeout_{0};
    redisContext* ctx_ = nullptr;
    std::int64_t client_id_ = 0;
    std::uint64_t generation_ = 0;
    std::chrono::milliseconds backoff_{0};
    std::chrono::steady_clock::time_point next_attempt_{};
    std::string last_error_;
    std::shared_ptr<std::atomic<std::uint64_t>> reached_;
    std::uint64_t reached_at_failure_ = 0;
};

}  // namespace csp::redis
