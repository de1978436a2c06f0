// csp::job_group: Go's errgroup in dispatcher form. Jobs submitted into a
// group run on the dispatcher like any other; wait() returns once none of
// them is open, with the first error (null if every one succeeded).
//
//   csp::job_group g(d, {.cancel_on_error = true});
//   for (auto& url : urls) g.submit([url](const csp::context& ctx) { fetch(ctx, url); });
//   if (std::exception_ptr e = g.wait()) std::rethrow_exception(e);
//
// The group's record lives in the dispatcher's loop (like the job table:
// invariant 13 in dispatcher.hpp); this object holds only its id.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <utility>

#include <dispatcher/dispatcher.hpp>

namespace csp {

struct group_options {
    /// The first job of the group that does not succeed (fails, times out,
    /// is cancelled) cancels every other open job of the group (their
    /// contexts; queued ones never run), and jobs submitted later end
    /// cancelled without running: errgroup.WithContext.
    bool cancel_on_error = false;
};

class job_group {
public:
    /// A new, empty group of d's jobs. The group may outlive d (wait() then
    /// answers from the stopped dispatcher's records); submit() may not.
    explicit job_group(dispatcher& d, group_options o = {});
    /// Drops the group's record in the dispatcher; its jobs go on.
    ~job_group();
    job_group(const job_group&) = delete;
    job_group& operator=(const job_group&) = delete;

    /// dispatcher::submit, into this group. A job whose unique key is held
    /// by an open job gets that job's handle and does not join the group.
    template <class F>
        requires detail::job_callable<F>
    auto submit(F&& f, job_options options = {}) {
        return *d_->submit_with(std::forward<F>(f), std::move(options), nullptr, true, ref_);
    }

    /// Blocks until no job submitted into the group so far is open; returns
    /// the error of the first of them that did not succeed (the job's
    /// exception, or dispatcher_error job_cancelled / job_timed_out), null
    /// if all succeeded. From inside a job of the same dispatcher it lends
    /// a worker meanwhile, like job_handle::get().
    std::exception_ptr wait();

private:
    dispatcher* d_;
    std::shared_ptr<detail::dispatcher_state> state_;
    detail::group_ref ref_;
};

}  // namespace csp
