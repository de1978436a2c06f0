// csp::job_store: where a dispatcher's jobs wait for a worker and where
// their records live. The dispatcher's loop is its only user while the
// dispatcher runs (so a store needs no locking); after the dispatcher has
// stopped, the store is frozen and only read (find, for_each), possibly by
// several threads at once.
//
// The default is the in-process store (make_memory_store). A durable or
// shared store (SQLite, Redis Streams) implements the same interface; the
// worker and dispatcher loops do not change.
//
//   csp::dispatcher d({.workers = 4, .store = csp::make_memory_store()});
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <chan/context.hpp>
#include <dispatcher/job.hpp>

namespace csp {

/// One job as the dispatcher keeps it: what a query reports (`info`) plus
/// the in-process parts a durable store would not persist (the function and
/// outcome in `core`). Kept small (a million queued jobs are a million
/// records): the options most jobs leave at their defaults live in
/// `options` only when set, the running job's cancel function with its
/// worker (in the loop's worker table).
struct job_record {
    job_info info;
    std::shared_ptr<detail::job_core> core;
    std::chrono::steady_clock::time_point due{};  // scheduled or retrying: when it becomes queued
    std::chrono::steady_clock::duration timeout{};  // job_options::timeout
    /// job_options::backoff and unique_key, if either is set; else null.
    /// (name and priority are in info, timeout and retries here.)
    std::unique_ptr<job_options> options;
    std::uint64_t group = 0;        // its job_group (0: none)
    unsigned retries = 0;           // job_options::retries
    bool handed = false;            // handed to a worker, verdict not yet in
    bool cancel_requested = false;  // cancel(id) or a shutdown now reached it while queued or running
    bool holds_slot = false;        // counts against the bounded queue until a worker takes it

    const std::string& unique_key() const noexcept {
        static const std::string none;
        return options ? options->unique_key : none;
    }
};

class job_store {
public:
    virtual ~job_store() = default;

    /// Adds a new job and returns its record. Its id is new to the store.
    /// State queued: it goes to the back of the ready queue of its
    /// priority; scheduled: it waits until `due`.
    virtual job_record& add(job_record&& r) = 0;
    /// Puts a job that ran back to wait until `due` (state retrying).
    virtual void schedule(job_record& r) = 0;
    /// The earliest `due` of the waiting (scheduled or retrying) jobs.
    virtual std::optional<std::chrono::steady_clock::time_point> next_due() const = 0;
    /// Moves every waiting job due by `now` to its ready queue (state
    /// queued), calling `promoted` on each.
    virtual void promote_due(std::chrono::steady_clock::time_point now,
                             const std::function<void(job_record&)>& promoted) = 0;
    /// The record of job `id`, or null. The pointer stays valid until the
    /// store is destroyed.
    virtual job_record* find(job_id id) = 0;
    /// Takes the next job to run off the ready queue (highest priority
    /// first, oldest first within a priority); null if none is queued.
    /// Jobs whose state is no longer `queued` (cancelled meanwhile) are skipped.
    virtual job_record* next_ready() = 0;
    /// Jobs in the ready queue with state `queued`.
    virtual std::size_t queued() const = 0;
    /// Says that a queued, scheduled or retrying job is leaving its queue by
    /// other means than next_ready (it is being cancelled: its state is
    /// still the old one, it becomes final right after).
    virtual void unqueued(job_record& r) = 0;
    /// Calls f on every record.
    virtual void for_each(const std::function<void(job_record&)>& f) = 0;
};

/// The in-process store: records in a hash table, one FIFO per priority.
std::unique_ptr<job_store> make_memory_store();

}  // namespace csp
