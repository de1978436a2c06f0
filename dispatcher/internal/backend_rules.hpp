// Rules every queue backend applies the same way (queue_backend.hpp's
// contract), kept in one place so the memory, SQLite and Redis backends
// cannot drift apart: what a delivery's outcome makes of the task, what an
// expired lease makes of it, and the state names stored as text.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <dispatcher/queue_backend.hpp>

namespace csp::detail {

/// What the store writes for an outcome.
struct stored_outcome {
    job_state state;
    bool retry;  // state is retrying, due at the outcome's retry_at
};

/// A succeeded outcome is final. A cancel request wins over any other
/// verdict (a cancelled task is never retried). A failure with retry_at and
/// attempts left is retrying; otherwise the verdict is final.
inline stored_outcome outcome_to_store(const task_outcome& o, bool cancel_requested, unsigned attempts,
                                       unsigned max_attempts) {
    if (o.state == job_state::succeeded) return {job_state::succeeded, false};
    if (cancel_requested) return {job_state::cancelled, false};
    if (o.retry_at && attempts < max_attempts) return {job_state::retrying, true};
    return {o.state, false};
}

/// What an expired lease makes of a running task: queued again (attempts
/// left), or final.
inline stored_outcome lease_expired_to_store(bool cancel_requested, unsigned attempts, unsigned max_attempts,
                                             unsigned max_deliveries) {
    if (cancel_requested) return {job_state::cancelled, false};
    if (attempts >= max_attempts || attempts >= max_deliveries) return {job_state::failed, false};
    return {job_state::queued, false};
}

inline std::string lease_expired_error(job_state to, unsigned attempts) {
    const std::string why = "lease expired during attempt " + std::to_string(attempts) +
                            " (its process died or stopped renewing it)";
    if (to == job_state::queued) return why + "; queued again";
    if (to == job_state::cancelled) return "cancelled; " + why;
    return why + "; no attempts left";
}

/// job_state from its to_string() name; nullopt for anything else.
inline std::optional<job_state> state_from_name(const std::string& s) {
    for (int i = 0; i <= static_cast<int>(job_state::timed_out); ++i)
        if (s == to_string(static_cast<job_state>(i))) return static_cast<job_state>(i);
    return std::nullopt;
}

inline std::int64_t to_ms(wall_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
/// A due time in ms, rounded up: never due before the time asked for.
inline std::int64_t to_ms_ceil(wall_clock::time_point t) {
    return std::chrono::ceil<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
inline wall_clock::time_point from_ms(std::int64_t ms) {
    return wall_clock::time_point(std::chrono::duration_cast<wall_clock::duration>(std::chrono::milliseconds(ms)));
}

inline void count_state(queue_stats& s, job_state st, std::uint64_t n = 1) {
    switch (st) {
        case job_state::queued: s.queued += n; break;
        case job_state::scheduled: s.scheduled += n; break;
        case job_state::running: s.running += n; break;
        case job_state::retrying: s.retrying += n; break;
        case job_state::succeeded: s.succeeded += n; break;
        case job_state::failed: s.failed += n; break;
        case job_state::cancelled: s.cancelled += n; break;
        case job_state::timed_out: s.timed_out += n; break;
    }
}

}  // namespace csp::detail
