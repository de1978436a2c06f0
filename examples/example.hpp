// What the examples share: command-line flags and invariant checks.
//
// `--fast` (or `--speedup N`) shortens every sleep and timeout by the same
// factor, so `meson test` runs the programs quickly with the timing
// relations of the originals intact. `check` states an invariant a port
// proves about its run (the originals print; the ports also check).
//
//   int main(int argc, char** argv) {
//       const examples::time_scale scaled(argc, argv);   // --fast: a tenth
//       csp::sleep_for(scaled(2s));
#pragma once
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace examples {

/// True if `name` (e.g. "--fast") is among the arguments.
inline bool has_flag(int argc, char** argv, const char* name) {
    for (int i = 1; i < argc; ++i)
        if (std::strcmp(argv[i], name) == 0) return true;
    return false;
}

/// The argument after `name` ("--db books.db"), or `fallback`.
inline std::string flag_value(int argc, char** argv, const char* name, std::string fallback) {
    for (int i = 1; i + 1 < argc; ++i)
        if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
    return fallback;
}

/// Durations as the program runs them: divided by N with `--speedup N`, by
/// 10 with --fast, else as written. Copyable: pass it to goroutines.
class time_scale {
public:
    time_scale(int argc, char** argv) {
        const int n = std::atoi(flag_value(argc, argv, "--speedup", "0").c_str());
        divisor_ = n > 0 ? n : has_flag(argc, argv, "--fast") ? 10 : 1;
    }
    /// `d` scaled: scaled(2s) is 200ms with --fast (nanosecond precision, so
    /// 1s / 3 does not round to 0 as std::chrono::seconds arithmetic would).
    template <class Rep, class Period>
    std::chrono::steady_clock::duration operator()(std::chrono::duration<Rep, Period> d) const {
        return std::chrono::duration_cast<std::chrono::steady_clock::duration>(d) / divisor_;
    }

private:
    int divisor_ = 1;
};

/// Ends the program with status 1 and `what` on stderr unless `ok`. Usable
/// from any goroutine: the whole program stops, as a failed Go test binary's
/// os.Exit(1) would.
inline void check(bool ok, const char* what) {
    if (ok) return;
    std::fflush(stdout);
    std::fprintf(stderr, "check failed: %s\n", what);
    std::_Exit(1);
}

}  // namespace examples
