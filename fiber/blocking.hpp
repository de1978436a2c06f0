// csp::blocking: run known blocking work (a file read, a database call, a
// legacy library, a long computation) on a thread of its own, so that the
// goroutine's scheduler thread stays free for the other goroutines (tokio's
// spawn_blocking, Go's entersyscall without the runtime's help).
//
//   std::string text = csp::blocking([&] { return read_whole_file(path); });
//
// Cancellation of the waiting goroutine through a context: chan/blocking.hpp.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace csp {

namespace detail {

/// One call for the blocking pool. `run` executes it on a pool thread.
struct blocking_job {
    void (*run)(blocking_job*) noexcept = nullptr;
    blocking_job* next = nullptr;  // the pool's queue link
};

/// True on a plain thread (not a goroutine): blocking() just calls f there.
bool blocking_runs_inline() noexcept;
/// Queues `job` on the pool and returns at once; the pool calls job->run
/// once and touches the job no more after that call returns.
void blocking_submit(blocking_job* job);
/// Queues `job` on the pool and parks the calling goroutine until the pool
/// thread's job->run has returned.
void blocking_wait(blocking_job& job);

/// Where a result of type R waits between the pool thread and the caller:
/// a value, a reference, or nothing (void).
template <class R>
struct blocking_result {
    std::optional<R> value;
    template <class F>
    void store(F& f) { value.emplace(std::invoke(f)); }
    R take() { return std::move(*value); }
};
template <class R>
struct blocking_result<R&> {
    R* value = nullptr;
    template <class F>
    void store(F& f) { value = &std::invoke(f); }
    R& take() { return *value; }
};
template <>
struct blocking_result<void> {
    template <class F>
    void store(F& f) { std::invoke(f); }
    void take() {}
};

}  // namespace detail

/// Most threads the blocking pool runs at once (CSP_BLOCKING_THREADS, or
/// 16); calls beyond that queue until a thread is free.
std::size_t blocking_threads();

/// Calls f() on a thread of the blocking pool while the calling goroutine
/// parks (its scheduler thread runs other goroutines meanwhile), and returns
/// what f returned or rethrows what it threw. On a plain thread it simply
/// calls f(). f may block in any way (a system call, a std::mutex, a
/// sleep); it runs on a plain thread, so it may also use channels.
///
///   auto rows = csp::blocking([&] { return db.query("select ..."); });
template <class F>
std::invoke_result_t<F&> blocking(F&& f) {
    using R = std::invoke_result_t<F&>;
    if (detail::blocking_runs_inline()) return std::invoke(f);
    struct job : detail::blocking_job {
        F* fn;
        detail::blocking_result<R> result;
        std::exception_ptr error;
    } j;
    j.fn = &f;
    j.run = [](detail::blocking_job* b) noexcept {
        auto* self = static_cast<job*>(b);
        try {
            self->result.store(*self->fn);
        } catch (...) {
            self->error = std::current_exception();
        }
    };
    detail::blocking_wait(j);
    if (j.error) std::rethrow_exception(j.error);
    return j.result.take();
}

}  // namespace csp
