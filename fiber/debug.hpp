// Seeing inside the runtime: goroutine dumps (Go prints one on SIGQUIT) and
// deadlock reports.
//
//   std::fputs(csp::goroutine_dump().c_str(), stderr);
//   csp::dump_goroutines_on_sigquit();   // kill -QUIT <pid> prints a dump
//
// Deadlocks are reported without asking: when every goroutine is blocked,
// no timer is pending and every other thread of the process is blocked in a
// cspfiber wait with no deadline, the program prints
//   fatal error: all goroutines are asleep - deadlock!
// and the goroutine dump, and exits with status 2, as Go does. Set
// CSP_DEADLOCK_DETECTION=0 to turn that off.
#pragma once

#include <cstddef>
#include <string>

namespace csp {

/// One line per live goroutine: its id, what it waits for and on which
/// object (channel, wait_group, mutex), and the function it runs.
std::string goroutine_dump();

/// From now on, SIGQUIT prints goroutine_dump() to stderr (the program goes
/// on running). A small thread of its own does the printing.
void dump_goroutines_on_sigquit();

/// How many SIGQUIT dumps have been printed so far (for tests and tools).
std::size_t sigquit_dumps_printed() noexcept;

}  // namespace csp
