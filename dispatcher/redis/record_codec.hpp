// Between the Redis backend's replies and queue_backend's types: a task's
// hash (HGETALL) to a task_record, a delivery (the scripts' 7-tuple) to a
// claimed_task, names of states and priorities, wall-clock milliseconds.
#pragma once

#include <dispatcher/queue_backend.hpp>

#include <cstdint>
#include <optional>
#include <string>

struct redisReply;

namespace csp::redis {

std::int64_t to_ms(wall_clock::time_point t);
wall_clock::time_point from_ms(std::int64_t ms);

const char* priority_name(job_priority p);
/// nullopt for a name no state has (a corrupted record).
std::optional<job_state> state_from_name(const std::string& s);

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

}  // namespace csp::redis
