// Stack overflow reporting: a goroutine that runs off its stack hits the
// guard page below it; a SIGSEGV handler on an alternate signal stack
// recognises guard pages and says so before aborting.
#pragma once

#include <cstddef>

namespace csp::detail {

/// Records a slab of `count` stacks of `stride` bytes starting at `base`,
/// each with its guard page first. Async-signal-safe to read afterwards.
void note_stack_slab(const void* base, std::size_t stride, std::size_t count) noexcept;

/// Installs the SIGSEGV handler (once) and an alternate signal stack for the
/// calling thread.
void watch_stack_overflow();

}  // namespace csp::detail
