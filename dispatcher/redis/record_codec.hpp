// Between the Redis backend's replies and queue_backend's types: a task's
// hash (HGETALL) to a task_record, a delivery (the scripts' 7-tuple) to a
// claimed_task, names of priorities. (State names and wall-clock
// milliseconds: dispatcher/internal/backend_rules.hpp, shared by the backends.)
#pragma once

#include <dispatcher/queue_backend.hpp>

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
/// A delivery {id, type, payload, attempt, max_attempts, timeout_ms, receipt}.
claimed_task decode_delivery(const redisReply* tuple);
/// Whether text is one JSON value (a payload the store holds must be).
bool is_json(const std::string& text);

}  // namespace csp::redis
