// Between the Redis backend's replies and queue_backend's types: a task's
// hash (HGETALL) to a task_record, a delivery (the scripts' 7-tuple) to a
// claimed_task, names of priorities. (State names and wall-clock
// milliseconds: dispatcher/internal/backend_rules.hpp, shared by the backends.)
#pragma once

#include <dispatcher/queue_backend.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

struct redisReply;

namespace csp::redis {

const char* priority_name(job_priority p);

/// A string, status or integer reply's text; "" otherwise.
std::string text(const redisReply* r);
/// An integer reply, or a string reply holding one; `fallback` otherwise.
std::int64_t integer(const redisReply* r, std::int64_t fallback = 0);

/// The record from a flat [field, value, ...] array (HGETALL). A field that
/// does not decode reads as empty or zero; an unknown state as `failed`
/// with the reason in `error`.
task_record decode_record(task_id id, const redisReply* fields);
/// A record's immutable part, one hash field ('spec'): the claim script
/// reads one field, not three. "<timeout ms> <type length>:<type><payload>".
std::string encode_spec(const std::string& type, std::chrono::milliseconds timeout, const std::string& payload);
/// Splits a spec; false if it is malformed (then why says how).
bool decode_spec(const std::string& spec, std::string& type, std::chrono::milliseconds& timeout, std::string& payload,
                 std::string& why);

/// A delivery {id, spec, attempt, max_attempts, receipt}. A delivery whose
/// spec is malformed or whose payload is not JSON comes back with `why`
/// set (the caller fails that task).
claimed_task decode_delivery(const redisReply* tuple, std::string& why);

}  // namespace csp::redis
