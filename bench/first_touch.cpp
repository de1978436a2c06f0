// The floor under idle_1m's start time: what the kernel charges for the
// first touch of a fresh anonymous page, the one page each new goroutine's
// stack needs. Prints ns per page for pages 64 KiB apart (one per stack, as
// goroutine stacks are laid out) and for contiguous pages.
//
//   build-bench/bench/first_touch [pages]      (default 200000)
#include <sys/mman.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace {

double ns_per_touch(std::size_t pages, std::size_t stride) {
    const std::size_t bytes = pages * stride;
    auto* p = static_cast<volatile char*>(
        ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    if (p == MAP_FAILED) {
        std::perror("mmap");
        std::exit(1);
    }
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < pages; ++i) p[i * stride + stride - 64] = 1;  // near the top, as a stack
    const auto t1 = std::chrono::steady_clock::now();
    ::munmap(const_cast<char*>(p), bytes);
    return std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(pages);
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t pages = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 200000;
    std::printf("first touch, one page per 64 KiB: %.0f ns per page\n", ns_per_touch(pages, 64 * 1024));
    std::printf("first touch, contiguous pages:    %.0f ns per page\n", ns_per_touch(pages, 4096));
}
