// Ended goroutines kept with their fiber and stack for the next go() (Go's
// gFree). See fiber/goroutine_pool.cpp.
#pragma once

namespace csp::detail {

class goroutine;

/// A pooled goroutine for go() to start anew (parked, its body area free),
/// or null. Callable from anywhere.
goroutine* take_idle_goroutine() noexcept;

/// The ending goroutine `self`, on its scheduler thread, joins the pool;
/// false if the pool is full (it ends for real). On true it must park at
/// once (park_idle), before anything else runs on this thread.
bool keep_idle_goroutine(goroutine* self) noexcept;

/// A scheduler thread about to sleep for long (a retired stand-in) hands
/// its list to the shared one, where other threads' go() find them.
void share_idle_goroutines() noexcept;

/// A goroutine take_idle_goroutine() gave that go() could not use (building
/// its body threw): back to the pool, still parked.
void return_idle_goroutine(goroutine* g) noexcept;

}  // namespace csp::detail
