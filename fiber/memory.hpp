// Handing memory back to the operating system (Go's debug.FreeOSMemory).
//
// The runtime keeps the stacks of finished goroutines for new ones. It
// returns their pages by itself once many lie unused (beyond about a
// thousand per stack size, plus a small cache per scheduler thread); this
// call returns them all now, with the C heap's free memory (malloc_trim).
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
/// their pages come back, zeroed, when used. Callable from anywhere.
void free_os_memory() noexcept;

}  // namespace csp
