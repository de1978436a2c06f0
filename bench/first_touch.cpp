// The floor under idle_1m's start time: what the kernel charges for the
// first touch of a fresh anonymous page, the one page each new goroutine's
// stack needs. Prints ns per page for pages 64 KiB apart (one per stack, as
// goroutine stacks are laid out) and for contiguous pages.
//
//   build-bench/bench/first_touch [pages]      (default 200000)
#include <cstdio>
#include <cstdlib>

#include "first_touch.hpp"

int main(int argc, char** argv) {
    const std::size_t pages = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 200000;
    std::printf("first touch, one page per 64 KiB: %.0f ns per page\n", csp_bench::first_touch_ns(pages, 64 * 1024));
    std::printf("first touch, contiguous pages:    %.0f ns per page\n", csp_bench::first_touch_ns(pages, 4096));
}
