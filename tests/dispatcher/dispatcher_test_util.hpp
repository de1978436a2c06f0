// Helpers of the dispatcher tests.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <sstream>
#include <string>

#include <chan/chan.hpp>
#include <dispatcher/dispatcher.hpp>
#include <fiber/debug.hpp>

#include "../harness/harness.hpp"

namespace csp_test {

using csp::cancel_result;
using csp::dispatcher;
using csp::dispatcher_errc;
using csp::job_state;
using csp::stop_mode;

/// Live goroutines of any dispatcher (the loop and worker bodies are named
/// types, so they show by name in the runtime's goroutine dump).
inline std::size_t dispatcher_goroutines() {
    std::istringstream dump(csp::goroutine_dump());
    std::size_t n = 0;
    for (std::string line; std::getline(dump, line);)
        if (line.find("csp::detail::dispatcher_loop") != std::string::npos ||
            line.find("csp::detail::worker_loop") != std::string::npos)
            ++n;
    return n;
}

/// Waits (bounded by `patience`) until no dispatcher goroutine is left: a
/// goroutine that has sent its last message still has to return, so right
/// after a shutdown the count may lag for a moment. True if it reached 0.
inline bool no_dispatcher_goroutines_left() {
    const auto t0 = steady::now();
    while (dispatcher_goroutines() != 0) {
        if (since(t0) > patience) return false;
        csp::yield();
        csp::sleep_for(1ms);
    }
    return true;
}

/// A gate jobs wait at until the test opens it (closes the channel).
struct gate {
    csp::chan<csp::unit> ch;
    void wait() const { ch.recv(); }
    void open() const { ch.close(); }
};

/// Submits a job that runs until its context is done, and returns once it
/// runs.
inline csp::job_handle<void> running_until_cancelled(csp::dispatcher& d, csp::job_options o = {}) {
    csp::chan<csp::unit> started;
    auto h = d.submit(
        [started](const csp::context& ctx) {
            started.send(csp::unit{});
            ctx.done().recv();
        },
        std::move(o));
    started.recv();
    return h;
}

/// Whether the job is final: asks the dispatcher.
inline bool final_state(const csp::dispatcher& d, csp::job_id id) { return csp::is_final(d.info(id).state); }

/// EXPECT that f throws dispatcher_error with code c.
template <class F>
::testing::AssertionResult throws_code(csp::dispatcher_errc c, F&& f) {
    try {
        f();
    } catch (const csp::dispatcher_error& e) {
        if (e.code() == c) return ::testing::AssertionSuccess();
        return ::testing::AssertionFailure() << "threw code " << static_cast<int>(e.code()) << ": " << e.what();
    } catch (const std::exception& e) {
        return ::testing::AssertionFailure() << "threw something else: " << e.what();
    }
    return ::testing::AssertionFailure() << "did not throw";
}

}  // namespace csp_test
