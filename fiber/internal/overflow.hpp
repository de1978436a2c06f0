// Stack overflow reporting: a goroutine that runs off its stack hits the
// guard page below it; a SIGSEGV handler on an alternate signal stack
// recognises guard pages and says so before aborting. Stacks without a guard
// page (see stack_pool.cpp) have a canary page instead, checked when the
// goroutine parks or yields and when it exits (goroutine::canary).
#pragma once

#include <atomic>
#include <cstddef>

namespace csp::detail {

/// Records a slab of `count` stacks of `stride` bytes starting at `base`,
/// each with its guard page first. Async-signal-safe to read afterwards.
void note_stack_slab(const void* base, std::size_t stride, std::size_t count) noexcept;

/// Records `size` bytes at `base` that are inaccessible, where only a stack
/// overflow can fault (below a run of canary slabs).
void note_overflow_trap(const void* base, std::size_t size) noexcept;

/// Installs the SIGSEGV handler (once) and an alternate signal stack for the
/// calling thread.
void watch_stack_overflow();

/// Whether any stack has a canary (a fast test before the others).
extern std::atomic<bool> canary_stacks_exist;

/// Whether the stack whose lowest byte is `stack_bottom` has a canary page
/// below it instead of a guard page (stack_pool.cpp).
bool has_canary(const void* stack_bottom) noexcept;

enum class canary_check {
    below,  // the 512 bytes right below the stack: when a goroutine parks or yields
    whole,  // the whole page: when a goroutine exits
};
/// For a stack with a canary (does nothing otherwise): reports a stack
/// overflow and aborts if the page below `stack_bottom` was written.
void check_stack_canary(const void* stack_bottom, canary_check how) noexcept;

}  // namespace csp::detail
