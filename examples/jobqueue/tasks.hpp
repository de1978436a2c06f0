// jobqueue's built-in tasks, named tasks of a csp::task_queue. A request's
// `task` and `args` are checked when it is submitted; the worker that claims
// the task builds the same function again from the stored payload, for the
// delivery's attempt:
//   sleep {ms}        waits ms; cancellable
//   spin {ms}         ms of CPU-bound work; checks for cancellation and
//                     yields every millisecond (the runtime does not preempt)
//   fail {message}    fails with message
//   echo {value}      succeeds with value as its result
//   flaky {failures}  fails that many attempts, then succeeds
//
//   jobqueue::task_fn f = jobqueue::make_task("sleep", {{"ms", 50}});  // or throws request_error
//   options.handlers = jobqueue::task_handlers();                      // all five, by name
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include <chan/context.hpp>
#include <dispatcher/task_queue.hpp>

#include "protocol.hpp"

namespace jobqueue {

/// A task's body: its result, or an exception for a failure. It returns
/// early when the context is done (the dispatcher then records cancelled or
/// timed_out, whatever it returned).
using task_fn = std::function<json(const csp::context&)>;

/// The task `name` with `args` checked, as run by its `attempt`-th
/// delivery. Throws request_error: unknown_task, or bad_request naming the
/// argument (e.g. "args.ms must be ...").
task_fn make_task(const std::string& name, const json& args, unsigned attempt = 1);

/// The stored payload of a submitted task: {"args":..., "name":..., "backoff_ms":...}.
json task_payload(const json& args, const std::string& name, std::int64_t backoff_ms);

/// The handlers of the five built-in tasks (task_queue_options::handlers:
/// in place before the first claim, which may find tasks of an earlier run).
std::map<std::string, csp::task_handler> task_handlers();

/// The delay before a retry of a delivered task: its payload's backoff_ms,
/// doubled for each retry after the first, at most a minute.
std::chrono::steady_clock::duration retry_delay(const csp::claimed_task& t, unsigned retry);

}  // namespace jobqueue
