// One word of goroutine-local storage, for libraries built on the runtime
// (the dispatcher keeps there the job a worker goroutine runs). Goroutines
// move between scheduler threads, so a thread_local cannot do this job.
//
//   void*& slot = csp::detail::goroutine_local();
//   slot = &my_scope;   // seen by code this goroutine runs, by nobody else
#pragma once

namespace csp::detail {

/// The running goroutine's word (null when it starts, gone when it ends),
/// or, on a plain thread, that thread's word.
void*& goroutine_local() noexcept;

}  // namespace csp::detail
