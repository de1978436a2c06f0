// The blocking pool behind csp::blocking: plain threads, started on demand
// up to blocking_threads(), that take jobs from one FIFO queue.
//
// Invariants:
//  1. A job is run once, by one pool thread, and never touched by the pool
//     after its run returns (the waiting goroutine's frame may be gone).
//  2. A pool thread waiting for work counts as an internal thread (it never
//     touches channels); while it runs a job it does not, so deadlock
//     detection sees an unknown thread at work and reports nothing. The
//     submitter takes an idle thread off the count when it hands it a job,
//     before that thread even wakes: a job is never queued unseen.
//  3. Each submit claims at most one idle thread (`signals`); with none to
//     claim it starts a thread, up to the limit, else the job queues.
//  4. blocking_wait submits the job only once its parker holds park_lock
//     (the parker's invariant 4): a job that ends at once cannot wake the
//     goroutine before it has switched away.
#include <fiber/blocking.hpp>

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <fiber/detail/parker.hpp>
#include <fiber/internal/runtime.hpp>
#include <fiber/internal/sched.hpp>

namespace csp::detail {

namespace {

std::size_t configured_blocking_threads() {
    if (const char* s = std::getenv("CSP_BLOCKING_THREADS")) {
        long n = std::strtol(s, nullptr, 10);
        if (n > 0) return static_cast<std::size_t>(n);
    }
    return 16;
}

class blocking_pool {
public:
    static blocking_pool& get() {
        static blocking_pool* pool = new blocking_pool();  // never destroyed: threads outlive main
        return *pool;
    }

    void submit(blocking_job* job) {
        std::lock_guard lk(mu_);
        job->next = nullptr;
        if (tail_) tail_->next = job;
        else head_ = job;
        tail_ = job;
        if (idle_ > 0) {  // invariants 2 and 3
            --idle_;
            internal_threads_add(-1);
            ++signals_;
            cv_.notify_one();
        } else if (threads_ < limit) {
            try {
                std::thread([this] { work(); }).detach();
                ++threads_;
            } catch (...) {
                // No new thread: the job waits for a busy one, if any.
                if (threads_ == 0) std::terminate();
            }
        }
        // Else it queues: a busy thread takes it when its job is done.
    }

    const std::size_t limit = configured_blocking_threads();

private:
    void work() {
        std::unique_lock lk(mu_);
        for (;;) {
            while (!head_) {  // another thread may have taken the job we were signalled for
                ++idle_;
                internal_threads_add(1);  // invariant 2
                cv_.wait(lk, [this] { return signals_ > 0; });
                --signals_;  // the submitter took us off idle_ and the count
            }
            blocking_job* job = head_;
            head_ = job->next;
            if (!head_) tail_ = nullptr;
            lk.unlock();
            job->run(job);  // invariant 1: the last touch
            lk.lock();
        }
    }

    std::mutex mu_;
    std::condition_variable cv_;
    blocking_job* head_ = nullptr;
    blocking_job* tail_ = nullptr;
    std::size_t threads_ = 0;
    std::size_t idle_ = 0;     // waiting for a job, unclaimed
    std::size_t signals_ = 0;  // idle threads claimed by a submitter, not yet awake
};

/// The caller's job, wrapped so that its end wakes the caller.
struct waited_job : blocking_job {
    blocking_job* inner;
    parker waiter;  // the calling goroutine's

    static void run_and_wake(blocking_job* b) noexcept {
        auto* self = static_cast<waited_job*>(b);
        self->inner->run(self->inner);
        parker& p = self->waiter;
        if (p.try_claim(1)) p.wake();  // the parker's invariant 3: nothing of it after this
    }
};

}  // namespace

bool blocking_runs_inline() noexcept { return !in_goroutine(); }

void blocking_submit(blocking_job* job) { blocking_pool::get().submit(job); }

void blocking_wait(blocking_job& job) {
    waited_job w;
    w.run = &waited_job::run_and_wake;
    w.inner = &job;
    w.waiter.reason = wait_reason::blocking;
    w.waiter.object = &job;
    w.waiter.park([&w] { blocking_pool::get().submit(&w); });  // invariant 4
}

}  // namespace csp::detail

namespace csp {

std::size_t blocking_threads() { return detail::blocking_pool::get().limit; }

}  // namespace csp
