// Goroutines: csp::go, csp::run, csp::yield.
//
//   csp::go([](int n) { std::cout << n << '\n'; }, 42);   // go f(42)
//   csp::run([] { ...program's main... });                // func main()
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include <boost/fiber/context.hpp>
#include <boost/fiber/operations.hpp>

#include <fiber/detail/goroutine.hpp>
#include <fiber/detail/runtime.hpp>

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace csp {

/// Stack size for one goroutine: `csp::go(csp::stack_size{1 << 20}, f)`.
/// The default (64 KiB, or CSP_STACK_SIZE bytes) is reserved address space
/// with a guard page below it; only the pages a goroutine touches cost memory.
struct stack_size {
    std::size_t bytes;
};

/// Handler for exceptions escaping a goroutine. Without one, the program
/// ends like a Go panic: "panic: <what()>" on stderr, then abort.
using panic_handler = void (*)(std::exception_ptr);
panic_handler set_panic_handler(panic_handler h) noexcept;

namespace detail {

template <class Fn, class Tuple>
struct goroutine_body {
    Fn fn;
    Tuple args;
    void operator()() noexcept {
        goroutine_started();
        try {
            std::apply(std::move(fn), std::move(args));
        } catch (...) {
            goroutine_panicked(std::current_exception());
        }
        goroutine_finished();
    }
};

template <class F, class... A>
void spawn(std::size_t stack, F&& f, A&&... a) {
    using body_t = goroutine_body<std::decay_t<F>, std::tuple<std::decay_t<A>...>>;
    // The record lives at the top of the goroutine's own stack; Boost's
    // context owns it and destroys it with the context (goroutine's operator
    // delete frees nothing: the stack goes back to the pool after that).
    goroutine_stack st = goroutine_stack::take(stack);
    auto* record = ::new (st.record_space()) goroutine(typeid(std::decay_t<F>).name(), st.usable());
    boost::intrusive_ptr<boost::fibers::context> ctx;
#if defined(__SANITIZE_THREAD__)
    // Boost.Context steps onto the new stack once while building the fiber
    // and comes straight back. ThreadSanitizer must count that visit as the
    // new goroutine's, or its entry frame is left on our shadow stack.
    void* const creator = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(record->tsan_fiber, 0);
#endif
    try {
        ctx = boost::fibers::make_worker_context_with_properties(
            boost::fibers::launch::post, record, goroutine_stack{st},
            body_t{std::forward<F>(f), std::tuple<std::decay_t<A>...>(std::forward<A>(a)...)});
    } catch (...) {
#if defined(__SANITIZE_THREAD__)
        __tsan_switch_to_fiber(creator, 0);
#endif
        record->~goroutine();
        boost::context::stack_context usable = st.usable();
        st.deallocate(usable);
        throw;
    }
#if defined(__SANITIZE_THREAD__)
    __tsan_switch_to_fiber(creator, 0);
#endif
    // The scheduler owns one reference (dropped when it frees the terminated
    // fiber); drop ours so that reference is the last.
    boost::fibers::context* raw = ctx.get();
    ctx.reset();
    make_ready(raw);
}

}  // namespace detail

/// Starts f(args...) as a new goroutine (Go's `go f(args...)`). Arguments are
/// decay-copied or moved into it. Callable from goroutines and plain threads.
template <class F, class... A>
    requires std::is_invocable_v<std::decay_t<F>, std::decay_t<A>...>
void go(F&& f, A&&... args) {
    detail::spawn(detail::default_stack_size(), std::forward<F>(f), std::forward<A>(args)...);
}

/// go() with an explicit stack size.
template <class F, class... A>
void go(stack_size s, F&& f, A&&... args) {
    detail::spawn(s.bytes, std::forward<F>(f), std::forward<A>(args)...);
}

/// Runs `main` as a goroutine and blocks the calling thread until it returns;
/// an exception from `main` is rethrown here. For programs ported from Go:
///
///   int main() { csp::run([] { ... }); }
void run(std::function<void()> main);

/// Lets other goroutines run (Go's runtime.Gosched). From a plain thread it
/// yields the thread.
void yield() noexcept;

/// Number of scheduler threads: CSP_PROCS, or the hardware threads (Go's
/// GOMAXPROCS). Starts the runtime if it is not running yet.
std::size_t procs();

}  // namespace csp
