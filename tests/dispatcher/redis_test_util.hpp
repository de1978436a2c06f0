// Shared by the Redis backend's tests: one private redis-server per test
// binary (tests that stop or kill it start their own), a fresh queue name
// per test, and a raw command for tests that look at or damage the keys.
#pragma once

#include <gtest/gtest.h>

#include <hiredis/hiredis.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <dispatcher/queue_backend.hpp>

#include "../harness/redis_server.hpp"
#include "../harness/stress.hpp"

namespace csp_test {

/// The binary's redis-server, started on first use, stopped at exit.
inline redis_server& shared_redis() {
    static redis_server server;
    return server;
}

/// A queue name no other test (or run) uses.
inline std::string fresh_queue() {
    static std::atomic<int> n{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string(info ? info->name() : "t") + "-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
}

/// The key prefix of queue q (dispatcher/redis/scripts.hpp).
inline std::string key(const std::string& q, const std::string& rest) { return "csp:{" + q + "}:" + rest; }

/// One command on a fresh connection; the reply as text (integer, string,
/// status; array length for an array; "ERR ..." for an error; "" for nil).
inline std::string raw(const redis_server& r, const std::vector<std::string>& argv) {
    redisContext* c = r.connect();
    if (!c) return "no connection";
    std::vector<const char*> p;
    std::vector<size_t> l;
    for (auto& a : argv) {
        p.push_back(a.data());
        l.push_back(a.size());
    }
    auto* rep = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), p.data(), l.data()));
    std::string out;
    if (!rep) out = "no reply";
    else if (rep->type == REDIS_REPLY_INTEGER) out = std::to_string(rep->integer);
    else if (rep->type == REDIS_REPLY_ARRAY) out = std::to_string(rep->elements);
    else if (rep->type == REDIS_REPLY_ERROR) out = "ERR " + std::string(rep->str, rep->len);
    else if (rep->str) out = std::string(rep->str, rep->len);
    if (rep) freeReplyObject(rep);
    redisFree(c);
    return out;
}

inline std::unique_ptr<csp::queue_backend> open_redis(const redis_server& r, const std::string& q,
                                                      const csp::backend_options& o = {}) {
    return csp::make_redis_backend("127.0.0.1", r.port(), q, o);
}

inline csp::task_spec named(std::string type, std::string payload = "{}") {
    csp::task_spec t;
    t.type = std::move(type);
    t.payload = std::move(payload);
    return t;
}

inline csp::task_outcome ok(std::string result = "null") {
    csp::task_outcome o;
    o.state = csp::job_state::succeeded;
    o.result = std::move(result);
    return o;
}

/// Short leases, for tests that wait for one to expire.
inline csp::backend_options short_lease() {
    csp::backend_options o;
    o.visibility_timeout = std::chrono::milliseconds(300);
    o.heartbeat_interval = std::chrono::milliseconds(50);
    return o;
}

}  // namespace csp_test
