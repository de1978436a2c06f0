// Telling the sanitizers about stack switches (their fiber APIs).
//
// AddressSanitizer: complete, `./dev test` runs the whole suite under it.
// ThreadSanitizer: the switches are announced (a TSan build runs instead of
// crashing on the first switch), but TSan still reports races on the
// scheduler threads' park state; not part of `./dev test` yet.
// Boost's
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
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define CSP_TSAN_FIBERS 1
#endif

#if defined(__SANITIZE_THREAD__)
#define CSP_NO_SANITIZE_THREAD __attribute__((no_sanitize_thread))
#else
#define CSP_NO_SANITIZE_THREAD
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

#if defined(CSP_TSAN_FIBERS)
inline void* tsan_fiber_create() noexcept { return __tsan_create_fiber(0); }
inline void* tsan_fiber_current() noexcept { return __tsan_get_current_fiber(); }
inline void tsan_fiber_destroy(void* f) noexcept {
    if (f) __tsan_destroy_fiber(f);
}
inline void tsan_switch_to(void* f) noexcept {
    if (f) __tsan_switch_to_fiber(f, 0);
}
#else
inline void* tsan_fiber_create() noexcept { return nullptr; }
inline void* tsan_fiber_current() noexcept { return nullptr; }
inline void tsan_fiber_destroy(void*) noexcept {}
inline void tsan_switch_to(void*) noexcept {}
#endif

}  // namespace csp::detail
