// Tests that run in a child process (gtest's death-test machinery, in its
// "threadsafe" style: the child re-executes the binary and runs this one
// test, so the runtime starts afresh there): for outcomes that end the
// process (a deadlock report, a stack overflow, a sanitizer abort), and for
// settings read once when the runtime starts (CSP_STACK_SIZE,
// CSP_DEADLOCK_DETECTION).
#pragma once

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "settings.hpp"

namespace csp_test {

/// In a child: ends the process with `status` after `d`, printing `note`
/// (a plain string: it is written from a signal handler). No thread is
/// started, so deadlock detection still sees every thread of the child.
inline void exit_after(std::chrono::milliseconds d, int status, const char* note) {
    static int code;
    static const char* text;
    code = status;
    text = note;
    struct sigaction sa {};
    sa.sa_handler = [](int) {
        (void)!::write(STDERR_FILENO, text, std::strlen(text));
        ::_exit(code);
    };
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGALRM, &sa, nullptr);
    itimerval t{};
    t.it_value.tv_sec = static_cast<time_t>(d.count() / 1000);
    t.it_value.tv_usec = static_cast<suseconds_t>(d.count() % 1000 * 1000);
    ::setitimer(ITIMER_REAL, &t, nullptr);
}

/// In a child: ends the process with `status`, printing `note`, as soon as
/// `done()` holds; it is polled every 2 ms from a SIGALRM handler, so it
/// must be async-signal-safe (an atomic load). After `patience` without it,
/// a hang: status 124. For outcomes seen by no thread of the child (all may
/// be blocked). No thread is started; replaces exit_after and bound_child.
inline void exit_once(bool (*done)(), int status, const char* note) {
    // Atomics: the handler may run on any thread of the child.
    static std::atomic<bool (*)()> condition;
    static std::atomic<int> code;
    static std::atomic<const char*> text;
    static std::atomic<int> polls_left;
    condition.store(done);
    code.store(status);
    text.store(note);
    polls_left.store(static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(patience).count() / 2));
    struct sigaction sa {};
    sa.sa_handler = [](int) {
        if (condition.load()()) {
            const char* t = text.load();
            (void)!::write(STDERR_FILENO, t, std::strlen(t));
            ::_exit(code.load());
        }
        if (polls_left.fetch_sub(1) <= 1) {
            static const char hang[] = "child: the awaited condition never held within the test's patience\n";
            (void)!::write(STDERR_FILENO, hang, sizeof hang - 1);
            ::_exit(124);
        }
    };
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    ::sigaction(SIGALRM, &sa, nullptr);
    itimerval t{};
    t.it_value.tv_usec = 2000;
    t.it_interval.tv_usec = 2000;
    ::setitimer(ITIMER_REAL, &t, nullptr);
}

/// In a child: a hang becomes a failure (exit status 124) after `patience`.
inline void bound_child() {
    exit_after(std::chrono::duration_cast<std::chrono::milliseconds>(patience), 124,
               "child still running after the test's patience: a hang\n");
}

/// In a child: test failures go to stderr too, which the parent shows in
/// its report (the child's stdout is not shown).
inline void report_failures_on_stderr() {
    struct to_stderr : ::testing::EmptyTestEventListener {
        void OnTestPartResult(const ::testing::TestPartResult& r) override {
            if (r.failed())
                std::fprintf(stderr, "%s:%d: failure in the child\n%s\n", r.file_name() ? r.file_name() : "?",
                             r.line_number(), r.message());
        }
    };
    ::testing::UnitTest::GetInstance()->listeners().Append(new to_stderr);
}

/// Runs `body` in a child process and expects it to end normally, without
/// test failures, within `patience`: for bugs that end the process (a
/// sanitizer abort, a deadlock report), so they fail one test, not the binary.
template <class F>
void expect_clean_exit_in_child(F body) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            bound_child();
            report_failures_on_stderr();
            body();
            std::_Exit(::testing::Test::HasFailure() ? 1 : 0);
        },
        ::testing::ExitedWithCode(0), "");
}

}  // namespace csp_test
