// The client side of the dispatcher: every public operation is a message to
// the loop (dispatcher/loop.cpp) or a wait on a job's `done` channel. See
// the invariants in dispatcher.hpp.
#include <dispatcher/dispatcher.hpp>
#include <dispatcher/job_group.hpp>

#include <fiber/deadline.hpp>
#include <random>
#include <string>


#include <fiber/detail/goroutine_local.hpp>

#include "internal/state.hpp"

namespace csp {

const char* to_string(job_state s) noexcept {
    switch (s) {
        case job_state::queued: return "queued";
        case job_state::scheduled: return "scheduled";
        case job_state::running: return "running";
        case job_state::retrying: return "retrying";
        case job_state::succeeded: return "succeeded";
        case job_state::failed: return "failed";
        case job_state::cancelled: return "cancelled";
        case job_state::timed_out: return "timed_out";
    }
    return "unknown";
}

const char* to_string(cancel_result r) noexcept {
    switch (r) {
        case cancel_result::cancelled: return "cancelled";
        case cancel_result::cancelling: return "cancelling";
        case cancel_result::already_cancelled: return "already_cancelled";
        case cancel_result::already_final: return "already_final";
    }
    return "unknown";
}

std::chrono::steady_clock::duration sidekiq_backoff(unsigned retry) {
    thread_local std::minstd_rand rng{std::random_device{}()};
    const auto n = static_cast<long long>(retry);
    const long long jitter = static_cast<long long>(rng() % 10) * (n + 1);
    return std::chrono::seconds(n * n * n * n + 15 + jitter);
}

namespace detail {

namespace {

// Goroutine-local: the job a worker goroutine is running. The worker owns
// the pointee; nothing is freed through this pointer. Plain threads never
// run jobs: their word stays null.
job_scope*& scope_slot() noexcept { return reinterpret_cast<job_scope*&>(goroutine_local()); }

dispatcher_error unknown_job(job_id id) {
    return dispatcher_error(dispatcher_errc::unknown_job, "dispatcher: unknown job " + std::to_string(id));
}

dispatcher_error shut_down(const char* op) {
    return dispatcher_error(dispatcher_errc::shut_down, std::string("dispatcher: ") + op + ": shut down");
}

/// While alive, tells the loop that the calling worker (if it is one of
/// `s`'s, inside a job) is blocked, so the loop lends a worker (invariant 9).
class lend_worker {
public:
    explicit lend_worker(dispatcher_state& s) : s_(s), scope_(current_job_scope(s)) { tell(+1); }
    ~lend_worker() { tell(-1); }
    lend_worker(const lend_worker&) = delete;
    lend_worker& operator=(const lend_worker&) = delete;
    job_id own_job() const noexcept { return scope_.job; }

private:
    void tell(int delta) {
        if (scope_.job == 0) return;
        try {
            s_.control.send(control_msg(blocked_msg{scope_.worker, delta}));
        } catch (const closed_channel_error&) {
            // The loop has ended: there is nobody to lend a worker.
        }
    }
    dispatcher_state& s_;
    job_scope scope_;
};

std::optional<job_info> frozen_info(dispatcher_state& s, job_id id) {
    const job_record* r = s.final_store->find(id);
    if (!r) return std::nullopt;
    return r->info;
}

constexpr auto forever = clock::duration::max();


}  // namespace

job_scope current_job_scope(const dispatcher_state& s) noexcept {
    const job_scope* sc = scope_slot();
    return sc && sc->s == &s ? *sc : job_scope{};
}

void set_job_scope(job_scope* scope) { scope_slot() = scope; }

void wait_job(dispatcher_state& s, job_core& j) {
    if (j.is_done()) return;  // fast path: final already
    lend_worker lend(s);
    if (const chan<unit>* done = j.waiter_channel()) done->recv();  // closed by the loop's finish()
}

bool wait_job_until(dispatcher_state& s, job_core& j, clock::time_point deadline) {
    if (j.is_done()) return true;
    lend_worker lend(s);
    const chan<unit>* done = j.waiter_channel();
    return !done || done->recv_until(deadline).status == chan_status::closed;
}

void rethrow_if_not_succeeded(job_core& j) {
    if (j.outcome != job_state::succeeded) std::rethrow_exception(j.error);
}

job_info query_job(dispatcher_state& s, job_id id) {
    chan<std::optional<job_info>> reply(1);
    std::optional<std::optional<job_info>> r = ask(s, query_msg{id, reply}, reply);
    std::optional<job_info> info = r ? std::move(*r) : frozen_info(s, id);
    if (!info) throw unknown_job(id);
    return std::move(*info);
}

cancel_result cancel_job(dispatcher_state& s, job_id id) {
    chan<std::optional<cancel_result>> reply(1);
    std::optional<std::optional<cancel_result>> r = ask(s, cancel_msg{id, reply}, reply);
    if (!r) {
        // Stopped: every job in the table is final.
        const job_record* rec = s.final_store->find(id);
        if (!rec) throw unknown_job(id);
        return rec->cancel_requested ? cancel_result::already_cancelled : cancel_result::already_final;
    }
    if (!*r) throw unknown_job(id);
    return **r;
}

}  // namespace detail

dispatcher::dispatcher(dispatcher_options options)
    : state_(std::make_shared<detail::dispatcher_state>(options)) {
    std::unique_ptr<job_store> store = options.store ? std::move(options.store) : make_memory_store();
    detail::start_loop(state_, std::move(store), options.workers);
}

dispatcher::~dispatcher() {
    // Begin a shutdown now, or escalate one in progress; then wait for the end.
    chan<bool> reply(1);
    detail::ask(*state_, detail::shutdown_msg{true, false, reply}, reply);
    state_->stopped.recv();
}

bool dispatcher::submit_core(std::shared_ptr<detail::job_core>& core, job_options&& options,
                             const std::chrono::steady_clock::time_point* deadline, bool block,
                             detail::group_ref group) {
    // The self-submission rule: our own jobs never wait for room.
    const bool take_slot = !state_->slots.is_nil() && detail::current_job_scope(*state_).job == 0;
    try {
        if (take_slot) {
            const chan_status got = !block    ? (state_->slots.try_send(unit{}) ? chan_status::ok : chan_status::would_block)
                                    : deadline ? state_->slots.send_until(unit{}, *deadline)
                                               : (state_->slots.send(unit{}), chan_status::ok);
            if (got != chan_status::ok) return false;
        }
        core->id = state_->next_id.fetch_add(1, std::memory_order_relaxed);
        detail::submission sub(core, std::move(options), detail::clock::now(), take_slot, group);
        if (sub.unique_key().empty()) {
            state_->intake.send(std::move(sub));
            return true;
        }
        // A unique key: the loop answers with the job that holds it (ours
        // or the open one); it takes our slot token back if not ours.
        chan<std::shared_ptr<detail::job_core>> reply(1);
        std::optional<std::shared_ptr<detail::job_core>> holder =
            detail::ask(*state_, detail::unique_submit_msg{std::move(sub), reply}, reply);
        if (!holder || !*holder) throw detail::shut_down("submit");
        core = std::move(*holder);
    } catch (const closed_channel_error&) {
        throw detail::shut_down("submit");
    }
    return true;
}

job_info dispatcher::info(job_id id) const { return detail::query_job(*state_, id); }

cancel_result dispatcher::cancel(job_id id) { return detail::cancel_job(*state_, id); }

std::vector<worker_id> dispatcher::add_workers(std::size_t n) {
    chan<std::vector<worker_id>> reply(1);
    auto r = detail::ask(*state_, detail::add_workers_msg{n, reply}, reply);
    if (n > 0 && (!r || r->empty())) throw detail::shut_down("add_workers");
    return r ? std::move(*r) : std::vector<worker_id>{};
}

void dispatcher::quit_worker(worker_id id, stop_mode m) {
    chan<bool> reply(1);
    auto r = detail::ask(*state_, detail::quit_worker_msg{id, m == stop_mode::now, reply}, reply);
    if (!r || !*r)
        throw dispatcher_error(dispatcher_errc::unknown_worker,
                               "dispatcher: quit_worker: no live worker " + std::to_string(id));
}

std::size_t dispatcher::quit_all(stop_mode m) {
    chan<std::size_t> reply(1);
    return detail::ask(*state_, detail::quit_all_msg{m == stop_mode::now, reply}, reply).value_or(0);
}

std::vector<worker_id> dispatcher::workers() const {
    chan<std::vector<worker_id>> reply(1);
    return detail::ask(*state_, detail::list_workers_msg{reply}, reply).value_or(std::vector<worker_id>{});
}

void dispatcher::wait_all() { wait_all_for(detail::forever); }

bool dispatcher::wait_all_for(std::chrono::steady_clock::duration d) {
    const auto deadline = detail::deadline_after(d);
    detail::lend_worker lend(*state_);
    chan<unit> reply(1);
    try {
        state_->control.send(detail::control_msg(detail::wait_all_msg{lend.own_job(), reply}));
    } catch (const closed_channel_error&) {
        return true;  // stopped: every job is final
    }
    // A reply that comes after we gave up lands in its buffer: the loop never blocks.
    return reply.recv_until(deadline).status == chan_status::ok;  // "never" waits without a timer
}

bool dispatcher::shutdown(stop_mode m, std::chrono::steady_clock::duration timeout) {
    const auto deadline = detail::deadline_after(timeout);
    chan<bool> reply(1);
    auto accepted = detail::ask(*state_, detail::shutdown_msg{m == stop_mode::now, true, reply}, reply);
    if (!accepted || !*accepted) throw detail::shut_down("shutdown");
    // From one of our own jobs: waiting would wait for that job (invariant 10).
    if (detail::current_job_scope(*state_).job != 0) return false;
    if (state_->stopped.recv_until(deadline).status == chan_status::closed) return true;
    if (m == stop_mode::graceful) {
        chan<bool> again(1);
        detail::ask(*state_, detail::shutdown_msg{true, false, again}, again);
    }
    return false;
}

dispatcher_metrics dispatcher::metrics() const {
    chan<dispatcher_metrics> reply(1);
    auto r = detail::ask(*state_, detail::metrics_msg{reply}, reply);
    return r ? std::move(*r) : state_->final_metrics;
}

recv_chan<dispatcher_event> dispatcher::events() {
    chan<chan<dispatcher_event>> reply(1);
    auto r = detail::ask(*state_, detail::events_msg{reply}, reply);
    if (r) return std::move(*r);
    // Stopped: the channel it had (closed), or a closed one.
    if (!state_->final_events.is_nil()) return state_->final_events;
    chan<dispatcher_event> closed;
    closed.close();
    return closed;
}

bool dispatcher::stopped() const { return state_->stopped.try_recv().status == chan_status::closed; }

bool dispatcher::wait_stopped_for(std::chrono::steady_clock::duration d) const {
    const auto deadline = detail::deadline_after(d);
    return state_->stopped.recv_until(deadline).status == chan_status::closed;
}

job_group::job_group(dispatcher& d, group_options o)
    : d_(&d), state_(d.state_), ref_{state_->next_group.fetch_add(1, std::memory_order_relaxed), o.cancel_on_error} {}

job_group::~job_group() {
    try {
        state_->control.send(detail::control_msg(detail::group_forget_msg{ref_.id}));
    } catch (const closed_channel_error&) {
        // Stopped: the loop's records are frozen, nothing to drop.
    }
}

std::exception_ptr job_group::wait() {
    detail::lend_worker lend(*state_);
    chan<std::exception_ptr> reply(1);
    if (auto first = detail::ask(*state_, detail::group_wait_msg{ref_.id, reply}, reply)) return *first;
    // Stopped: every job is final; the group's first error was kept.
    auto it = state_->final_group_errors.find(ref_.id);
    return it == state_->final_group_errors.end() ? nullptr : it->second;
}

}  // namespace csp
