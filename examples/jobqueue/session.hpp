// One jobqueue session: requests in, answers and events out, tasks run on a
// csp::dispatcher. One goroutine handles everything in order, so the
// answers come in request order and a task's events never precede the
// answer that accepted it.
//
//   csp::dispatcher d(0);                    // the session starts opts.workers
//   jobqueue::run_session(d, reader.lines(), writer.lines(), writer.broken(), opts);
#pragma once

#include <cstddef>
#include <string>

#include <chan/chan.hpp>
#include <dispatcher/dispatcher.hpp>

#include "io.hpp"

namespace jobqueue {

struct session_options {
    std::size_t workers = 2;         // started by the session once it hears events (d starts with none)
    std::size_t max_line = 1 << 20;  // longer lines are answered bad_request
    std::size_t max_workers = 256;   // "workers add" beyond this is refused
};

/// Serves requests from `lines` until the dispatcher has stopped (after a
/// shutdown request, the end of input, or `broken` closing: standard output
/// is gone, so everything is cancelled). Writes every answer and event to
/// `out`. Returns once `d` has stopped and its last events are written.
void run_session(csp::dispatcher& d, csp::recv_chan<input_line> lines, csp::send_chan<std::string> out,
                 csp::recv_chan<csp::unit> broken, session_options opts);

}  // namespace jobqueue
