// Telling the sanitizers about stack switches (their fiber APIs).
//
// Boost's prebuilt fcontext switches stacks behind the sanitizers' backs.
// Every switch on a scheduler thread goes through proc::pick_next, which
// announces it:
//  - AddressSanitizer: start_switch there, finish_switch in the context that
//    lands (proc::landed). Without it, a throw inside a goroutine cannot
//    clean the stack's poisoning and ASan reports false stack overflows.
//  - ThreadSanitizer: each goroutine is a TSan fiber; pick_next switches to
//    it. Boost also steps onto a goroutine's stack twice on its own: when it
//    builds the fiber (spawn_goroutine, in go.cpp, switches around that)
//    and when it frees it (proc::tsan_borrow). Code between a TSan switch
//    and the real one must not be instrumented, or function-exit hooks pop
//    the other fiber's shadow stack.
// Compiles to nothing without the sanitizers.
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
/// The record of a goroutine that ran is being deleted: retire its fiber
/// (proc.cpp tells why this may switch fibers). Callers must not be
/// instrumented and must return right after.
void tsan_retire(void* fiber) noexcept;
#else
inline void* tsan_fiber_create() noexcept { return nullptr; }
inline void* tsan_fiber_current() noexcept { return nullptr; }
#endif

}  // namespace csp::detail
