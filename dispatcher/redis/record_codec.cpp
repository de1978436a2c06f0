// Decoding the Redis backend's replies (see record_codec.hpp).
#include <dispatcher/redis/record_codec.hpp>

#include <dispatcher/internal/backend_rules.hpp>

#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

namespace csp::redis {

const char* priority_name(job_priority p) {
    switch (p) {
        case job_priority::low: return "low";
        case job_priority::normal: return "normal";
        case job_priority::high: return "high";
    }
    return "normal";
}

std::string text(const redisReply* r) {
    if (!r) return {};
    switch (r->type) {
        case REDIS_REPLY_STRING:
        case REDIS_REPLY_STATUS: return std::string(r->str, r->len);
        case REDIS_REPLY_INTEGER: return std::to_string(r->integer);
        default: return {};
    }
}

std::int64_t integer(const redisReply* r, std::int64_t fallback) {
    if (!r) return fallback;
    if (r->type == REDIS_REPLY_INTEGER) return r->integer;
    std::string s = text(r);
    if (s.empty()) return fallback;
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    return *end == '\0' ? v : fallback;
}

namespace {

job_priority priority_from_name(const std::string& s) {
    if (s == "high") return job_priority::high;
    if (s == "low") return job_priority::low;
    return job_priority::normal;
}

unsigned small(std::int64_t v) { return v < 0 ? 0u : static_cast<unsigned>(v); }

}  // namespace

task_record decode_record(task_id id, const redisReply* fields) {
    task_record t;
    t.id = id;
    if (!fields || fields->type != REDIS_REPLY_ARRAY) return t;
    std::string bad_state;
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        std::string k = text(fields->element[i]);
        const redisReply* v = fields->element[i + 1];
        if (k == "spec") {
            std::string why;
            decode_spec(text(v), t.type, t.timeout, t.payload, why);
        } else if (k == "state") {
            if (auto s = detail::state_from_name(text(v))) t.state = *s;
            else bad_state = text(v);
        } else if (k == "priority") t.priority = priority_from_name(text(v));
        else if (k == "attempts") t.attempts = small(integer(v));
        else if (k == "max_attempts") t.max_attempts = small(integer(v, 1));
        else if (k == "submitted") t.submitted = detail::from_ms(integer(v));
        else if (k == "started") t.started = detail::from_ms(integer(v));
        else if (k == "finished") t.finished = detail::from_ms(integer(v));
        else if (k == "not_before") t.not_before = detail::from_ms(integer(v));
        else if (k == "result") t.result = text(v);
        else if (k == "error") t.error = text(v);
        else if (k == "owner") t.owner = text(v);
        else if (k == "cancel") t.cancel_requested = text(v) == "1";
    }
    // The scripts leave a task's last owner in place when it ends.
    if (t.state != job_state::running) t.owner.clear();
    if (!bad_state.empty()) {
        t.state = job_state::failed;
        t.error = "corrupted task in Redis: unknown state '" + bad_state + "'";
    }
    return t;
}

std::string encode_spec(const std::string& type, std::chrono::milliseconds timeout, const std::string& payload) {
    return std::to_string(std::max<std::int64_t>(0, timeout.count())) + " " + std::to_string(type.size()) + ":" + type +
           payload;
}

bool decode_spec(const std::string& spec, std::string& type, std::chrono::milliseconds& timeout, std::string& payload,
                 std::string& why) {
    // strtoull would take a sign or spaces: digits only.
    auto digits = [&](std::size_t from, std::size_t to) {
        return to > from && to - from <= 18 && spec.find_first_not_of("0123456789", from) >= to;
    };
    auto space = spec.find(' ');
    auto colon = spec.find(':', space == std::string::npos ? 0 : space);
    if (space == std::string::npos || colon == std::string::npos || !digits(0, space) || !digits(space + 1, colon)) {
        why = "malformed spec (type, timeout, payload)";
        return false;
    }
    auto len = std::stoull(spec.substr(space + 1, colon - space - 1));
    if (len == 0 || len > spec.size() - colon - 1) {
        why = len == 0 ? "no type" : "malformed spec (type, timeout, payload)";
        return false;
    }
    timeout = std::chrono::milliseconds(std::stoll(spec.substr(0, space)));
    type = spec.substr(colon + 1, len);
    payload = spec.substr(colon + 1 + len);
    return true;
}

claimed_task decode_delivery(const redisReply* d, std::string& why) {
    if (!d || d->type != REDIS_REPLY_ARRAY || d->elements != 5)
        throw std::runtime_error("redis backend: malformed delivery from the claim script");
    claimed_task c;
    c.id = static_cast<task_id>(integer(d->element[0]));
    c.attempt = small(integer(d->element[2], 1));
    c.max_attempts = small(integer(d->element[3], 1));
    c.receipt = text(d->element[4]);
    // accept() parses without building the value, and without recursion: a
    // hostile, deeply nested payload costs no stack.
    if (decode_spec(text(d->element[1]), c.type, c.timeout, c.payload, why) && !nlohmann::json::accept(c.payload))
        why = "its payload is not JSON";
    return c;
}

}  // namespace csp::redis
