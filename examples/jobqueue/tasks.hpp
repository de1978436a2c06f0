// jobqueue's built-in tasks. Each request's `task` and `args` become one
// function the dispatcher runs (again on each retry):
//   sleep {ms}        waits ms; cancellable
//   spin {ms}         ms of CPU-bound work; checks for cancellation and
//                     yields every millisecond (the runtime does not preempt)
//   fail {message}    fails with message
//   echo {value}      succeeds with value as its result
//   flaky {failures}  fails that many attempts, then succeeds
//
//   jobqueue::task_fn f = jobqueue::make_task("sleep", {{"ms", 50}});  // or throws request_error
#pragma once

#include <functional>
#include <string>

#include <chan/context.hpp>

#include "protocol.hpp"

namespace jobqueue {

/// A task's body: its result, or an exception for a failure. It returns
/// early when the context is done (the dispatcher then records cancelled or
/// timed_out, whatever it returned).
using task_fn = std::function<json(const csp::context&)>;

/// The task `name` with `args` checked. Throws request_error: unknown_task,
/// or bad_request naming the argument (e.g. "args.ms must be ...").
task_fn make_task(const std::string& name, const json& args);

}  // namespace jobqueue
