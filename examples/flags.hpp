// Command-line flags shared by the examples: `--fast` shortens every sleep
// and timeout by the same factor, so `meson test` runs the programs quickly
// with the timing relations of the originals intact.
//
//   int main(int argc, char** argv) {
//       const int speedup = examples::speedup(argc, argv);   // 1, or 10 with --fast
//       csp::sleep_for(2s / speedup);
#pragma once
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

/// The factor every duration is divided by: 10 with --fast, else 1.
inline int speedup(int argc, char** argv) { return has_flag(argc, argv, "--fast") ? 10 : 1; }

}  // namespace examples
