// Exit: the program may end (main returns, exit() is called) while goroutines
// run. Go just stops; C++ runs static destructors first, and a goroutine that
// still ran would use the objects they destroy. So the first thing exit does
// is stop every scheduler thread (fiber/exit.cpp says how).
#pragma once

#include <atomic>

namespace csp::detail {

/// Called on each scheduler thread as it starts: exit will stop it.
void enlist_scheduler_thread();

/// (Re)registers the stop with atexit. Exit handlers run newest first, and
/// static destructors are exit handlers too: the stop runs before the
/// destructor of every static constructed before this call. Called when the
/// runtime starts and each time csp::run returns.
void stop_scheduler_threads_at_exit() noexcept;

extern std::atomic<bool> exit_stopping;
[[noreturn]] void stop_at_safe_point() noexcept;

/// A safe point: a goroutine resumes here holding none of the runtime's
/// locks, nor the C library's. Once the program exits, the thread stops
/// here for good.
inline void stop_here_if_exiting() noexcept {
    if (__builtin_expect(exit_stopping.load(std::memory_order_relaxed), false)) stop_at_safe_point();
}

}  // namespace csp::detail
