// Handing memory back to the operating system (Go's debug.FreeOSMemory).
//
// The runtime keeps finished goroutines (fiber and stack) and the stacks
// of others for new ones. It returns their pages by itself once many lie
// unused: finished goroutines that a burst left beyond about a thousand
// (plus a few hundred per scheduler thread) end within a few tenths of a
// second, and stacks beyond about a thousand per stack size are released;
// this call does both now, with the C heap's free memory (malloc_trim).
//
//   #include <fiber/memory.hpp>
//
//   run_a_million_goroutines();
//   csp::free_os_memory();  // resident memory falls back near where it was
#pragma once

namespace csp {

/// Returns the pages of every pooled goroutine stack (except those cached
/// by other scheduler threads, a few hundred at most each) and the C heap's
/// free memory to the system. The stacks stay reserved and are reused;
/// their pages come back, zeroed, when used. Finished goroutines kept for
/// reuse beyond the pool's resting size end too; their stacks follow soon
/// after (they end on scheduler threads). Callable from anywhere.
void free_os_memory() noexcept;

}  // namespace csp
