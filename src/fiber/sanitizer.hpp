// Telling AddressSanitizer about stack switches (its fiber API). Boost's
// prebuilt fcontext switches stacks behind ASan's back; without this, a
// throw inside a goroutine cannot clean the stack's poisoning and ASan
// reports false stack overflows. Every switch on a scheduler thread goes
// through proc::pick_next, which announces it; the context that lands calls
// finish. Compiles to nothing without ASan.
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define CSP_ASAN_FIBERS 1
#endif

namespace csp::detail {

struct stack_bounds {
    const void* bottom = nullptr;
    std::size_t size = 0;
};

#if defined(CSP_ASAN_FIBERS)
inline void sanitizer_start_switch(stack_bounds to) noexcept {
    __sanitizer_start_switch_fiber(nullptr, to.bottom, to.size);
}
inline void sanitizer_finish_switch() noexcept { __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr); }
#else
inline void sanitizer_start_switch(stack_bounds) noexcept {}
inline void sanitizer_finish_switch() noexcept {}
#endif

}  // namespace csp::detail
