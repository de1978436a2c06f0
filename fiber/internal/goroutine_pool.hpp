// Ended goroutines kept with their fiber and stack for the next go() (Go's
// gFree). See fiber/goroutine_pool.cpp.
#pragma once

#include <cstddef>

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

/// True if the shared list holds more than its resting size (a hint).
bool has_idle_surplus() noexcept;
/// Ends the shared list's entries beyond its resting size (whole batches
/// of them: up to a batch's length more), at most trim_batch at a time
/// with `unused_only`, and only as many as stayed listed since the last
/// call (the monitor's trim, every trim_window); else all of them
/// (csp::free_os_memory). Each is made ready with no body and ends on a
/// scheduler thread soon after. Returns how many.
std::size_t end_idle_surplus(bool unused_only) noexcept;
/// A goroutine end_idle_surplus() made ready ends now (goroutine_finished).
void idle_goroutine_ended() noexcept;
/// How many end_idle_surplus() made ready have not ended yet.
std::size_t idle_goroutines_ending() noexcept;
/// A goroutine take_idle_goroutine() gave that go() could not use (building
/// its body threw): back to the pool, still parked.
void return_idle_goroutine(goroutine* g) noexcept;

}  // namespace csp::detail
