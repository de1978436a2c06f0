// Reading this process's memory from /proc, for the tests that check memory
// stays flat.
#pragma once

#include <cstdlib>
#include <fstream>
#include <string>

namespace csp_test {

/// The process's resident set size (VmRSS) in KiB; -1 if unknown.
inline long resident_kib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
    return -1;
}

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool under_asan = true;  // freed memory sits in ASan's quarantine: VmRSS says little
#else
inline constexpr bool under_asan = false;
#endif

}  // namespace csp_test
