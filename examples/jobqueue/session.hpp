// One jobqueue session: requests in, answers and events out, tasks kept in
// a csp::task_queue's store (memory, SQLite, Redis) and run by its workers.
// One goroutine handles everything in order, so the answers come in request
// order and a task's events never precede the answer that accepted it.
//
//   csp::task_queue q({.workers = 2, .backend = csp::open_backend(url), .events_from_start = true,
//                      .handlers = jobqueue::task_handlers()});
//   jobqueue::run_session(q, reader.lines(), writer.lines(), writer.broken(), opts);
#pragma once

#include <cstddef>
#include <string>

#include <chan/chan.hpp>
#include <dispatcher/task_queue.hpp>

#include "io.hpp"

namespace jobqueue {

struct session_options {
    std::size_t workers = 2;         // the task_queue's workers at the start
    std::size_t max_line = 1 << 20;  // longer lines are answered bad_request
    std::size_t max_workers = 256;   // "workers add" beyond this is refused
};

/// Serves requests from `lines` until the queue has stopped (after a
/// shutdown request, the end of input, or `broken` closing: standard output
/// is gone, so everything is cancelled). Writes every answer and event to
/// `out`. Returns once `q` has stopped and its last events are written.
void run_session(csp::task_queue& q, csp::recv_chan<input_line> lines, csp::send_chan<std::string> out,
                 csp::recv_chan<csp::unit> broken, session_options opts);

}  // namespace jobqueue
