// Seeing inside the runtime: goroutine dumps (Go prints one on SIGQUIT) and
// deadlock reports.
//
//   std::fputs(csp::goroutine_dump().c_str(), stderr);
//   csp::dump_goroutines_on_sigquit();   // kill -QUIT <pid> prints a dump
//
// Deadlocks are reported without asking: when every goroutine is blocked,
// no timer is pending (a wait until "never", e.g. sleep_for(hours::max()),
// counts as one, as in Go) and every other thread of the process is blocked
// in a cspfiber wait with no deadline, the program prints
//   fatal error: all goroutines are asleep - deadlock!
// and the goroutine dump, and exits with status 2, as Go does. Set
// CSP_DEADLOCK_DETECTION=0 to turn that off.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace csp {

/// One line per live goroutine: its id, what it waits for and on which
/// object (channel, wait_group, mutex), and the function it runs.
std::string goroutine_dump();

/// From now on, SIGQUIT prints goroutine_dump() to stderr (the program goes
/// on running). A small thread of its own does the printing.
void dump_goroutines_on_sigquit();

/// What one live goroutine is doing, as a goroutine dump line says it.
struct goroutine_state {
    std::uint64_t id;
    /// "running" (the goroutine asking), "runnable" (running elsewhere, or
    /// ready to run), or what it waits for: "chan
    /// send", "chan receive", "select", "select (no cases)", "chan send (nil
    /// chan)", "chan receive (nil chan)", "sleep", "sync.WaitGroup.Wait",
    /// "sync.Mutex.Lock". A goroutine shows its wait from just before it
    /// parks (its waiter is already queued) until it runs again.
    std::string wait_reason;
    /// The channel, wait_group or mutex it waits on (null otherwise). For a
    /// channel: `ch.base()`.
    const void* object;
    /// What it runs: a function's name (`worker(csp::chan<int>)` for
    /// csp::go(worker, c), from the symbol table), "main (the function
    /// csp::run runs)", or the demangled type of the function object.
    std::string entry;
};

/// A snapshot of every live goroutine, in id order.
///
///   for (const csp::goroutine_state& g : csp::goroutine_states())
///       std::cout << g.id << " " << g.wait_reason << "\n";
std::vector<goroutine_state> goroutine_states();

/// How many goroutines wait for `reason` (spelled as in goroutine_state)
/// on `object`, or on anything when `object` is null. Cheaper than a
/// snapshot: for polling, e.g. a test that waits until a goroutine is parked.
///
///   while (csp::goroutines_waiting("chan receive", ch.base()) == 0) csp::yield();
std::size_t goroutines_waiting(std::string_view reason, const void* object = nullptr);

/// How many plain threads (not the runtime's) are blocked in a cspfiber wait
/// with no deadline (a channel operation, select, wait_group, mutex, or
/// csp::run waiting for its main goroutine): the count deadlock detection
/// uses. Threads in a timed wait are not counted.
std::size_t threads_waiting() noexcept;

/// How many SIGQUIT dumps have been printed so far (for tests and tools).
std::size_t sigquit_dumps_printed() noexcept;

/// How many times deadlock detection found every goroutine and thread
/// blocked and reported nothing because a timer or a wait until "never" was
/// pending (for tests and tools: async-signal-safe, one atomic load).
///
///   csp::sleep_for(std::chrono::hours::max());  // on a goroutine: not a deadlock
std::size_t deadlock_checks_deferred() noexcept;

}  // namespace csp
