// The first touch of fresh anonymous pages: the floor under starting many
// goroutines, each of which needs one fresh page of stack (bench/first_touch
// prints it; cspbench's idle_1m reports its time as a multiple of it).
#pragma once

#include <sys/mman.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>

namespace csp_bench {

/// ns per page for the first write to `pages` fresh pages `stride` bytes
/// apart, each near the top of its stride (where a stack starts).
inline double first_touch_ns(std::size_t pages, std::size_t stride) {
    const std::size_t bytes = pages * stride;
    auto* p = static_cast<volatile char*>(
        ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    if (p == MAP_FAILED) {
        std::perror("mmap");
        std::exit(1);
    }
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < pages; ++i) p[i * stride + stride - 64] = 1;
    const auto t1 = std::chrono::steady_clock::now();
    ::munmap(const_cast<char*>(p), bytes);
    return std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(pages);
}

/// Touches `pages` fresh pages and frees them, untimed: afterwards the
/// guest kernel holds that much free memory its host has backed. On a VM
/// whose balloon reports free memory back to the host (virtio_balloon's
/// free page reporting, 2 MiB blocks some 2 s after they are freed), the
/// first touch of memory the host took back costs a host fault besides the
/// guest's: 1.5 to 8 us per page here, against 1.5 to 2 for memory freed a
/// moment ago, by whatever the host did last (bench/RESULTS.md, session 11).
/// A start-up benchmark that touches gigabytes does this first, on every
/// side it compares, so that its timed part pays the guest kernel's cost
/// and not the host's mood.
inline void warm_fresh_memory(std::size_t pages, std::size_t stride) { (void)first_touch_ns(pages, stride); }

}  // namespace csp_bench
