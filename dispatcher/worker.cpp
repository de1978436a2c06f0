// A worker: registers on the worker channel whenever it is idle, runs the
// job the loop hands it on its work channel, reports on the status channel,
// and quits when its quit channel says so (invariants 3 and 4 in
// dispatcher.hpp).
#include <tuple>

#include <chan/select.hpp>

#include "internal/state.hpp"

namespace csp::detail {

namespace {

status_kind verdict_of(context_error e, status_kind otherwise) {
    switch (e) {
        case context_error::canceled: return status_kind::cancelled;
        case context_error::deadline_exceeded: return status_kind::timed_out;
        case context_error::none: break;
    }
    return otherwise;
}

/// Runs one job and reports on it. The job's exception never escapes.
void run_job(dispatcher_state& s, job_scope& scope, work_item w) {
    const job_id id = w.core->id;
    // Cancelled (or expired) between the loop's hand-over and now: never
    // run it (invariant 6).
    if (const context_error e = w.ctx.err(); e != context_error::none) {
        status_report rep{verdict_of(e, status_kind::cancelled), scope.worker, id, clock::now()};
        rep.ran = false;
        s.status.send(std::move(rep));
        return;
    }
    if (s.test_fault) s.test_fault(scope.worker, id, false);
    const clock::time_point start = clock::now();
    s.status.send(status_report{status_kind::started, scope.worker, id, start});
    // The timeout counts from the start the loop records, so a timed-out
    // job's run time is never below it.
    cancel_func stop_timer = [] {};
    if (w.timeout > clock::duration::zero()) std::tie(w.ctx, stop_timer) = with_deadline(w.ctx, start + w.timeout);
    status_report rep{status_kind::succeeded, scope.worker, id, {}};
    scope.job = id;
    try {
        w.core->run(w.ctx);
    } catch (...) {
        // Its text (what()) is the loop's to read: only failures pay for it.
        rep.kind = status_kind::failed;
        rep.error = std::current_exception();
    }
    scope.job = 0;
    // Its context done by the time it returned: the job ends cancelled or
    // timed_out whatever it returned (invariant 5). The verdict first, then
    // the time: a deadline passing in between (this thread preempted) would
    // otherwise make a timed-out job's run time shorter than its timeout.
    rep.kind = verdict_of(w.ctx.err(), rep.kind);
    rep.at = clock::now();
    stop_timer();
    w = {};  // drop our references to the job before the loop finishes it
    if (s.test_fault) s.test_fault(scope.worker, id, true);
    s.status.send(std::move(rep));
}

}  // namespace

void worker_loop::operator()() {
    job_scope scope{s.get(), id, 0};
    set_job_scope(&scope);
    status_report last{status_kind::quit, id, 0};
    try {
        serve(scope);
    } catch (...) {
        // Died (a bug in this loop; a job's exception never gets here): the
        // loop knows our job, if any, and replaces us (supervision).
        last.kind = status_kind::died;
        last.error = std::current_exception();
    }
    set_job_scope(nullptr);
    last.at = clock::now();
    s->status.send(std::move(last));
}

void worker_loop::serve(job_scope& scope) {
    for (;;) {
        s->workers.send(worker_registration{id, work});
        std::optional<work_item> job;
        bool told_to_quit = false;
        select(case_recv(work, [&](std::optional<work_item> w) { job = std::move(w); }),
               case_recv(quit, [&](std::optional<unit>) { told_to_quit = true; }));
        if (told_to_quit) return;
        run_job(*s, scope, std::move(*job));
    }
}

}  // namespace csp::detail
