// Goroutines: csp::go, csp::run, csp::yield.
//
//   csp::go([](int n) { std::cout << n << '\n'; }, 42);   // go f(42)
//   csp::run([] { ...program's main... });                // func main()
#pragma once

#include <cstddef>
#include <exception>
#include <memory>
#include <new>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>

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

/// Reports an exception that escaped a goroutine, as a Go panic would be
/// (or through the handler of set_panic_handler).
void goroutine_panicked(std::exception_ptr e) noexcept;

/// A goroutine's body as the runtime sees it, without its type: one
/// constant table per body type, made by spawn below.
struct body_ops {
    std::size_t size;
    std::size_t align;
    const std::type_info* entry;                // the function, as goroutine dumps name it
    void (*construct)(void* at, void* source);  // builds the body from go()'s arguments
    void (*run)(void* body) noexcept;           // calls it, reports a panic, destroys it
    void (*destroy)(void* body) noexcept;       // destroys a body that never ran
    // The address of the function, when go() was given one (a dump names it
    // by its symbol); null for function objects.
    const void* (*function)(void* source) noexcept = nullptr;
};

/// Starts a goroutine (fiber/go.cpp): takes a stack of `stack` bytes (0: the
/// default), builds the body in the stack's top bytes from `source`, and
/// makes it runnable. The runtime's goroutine record lives there too, so a
/// goroutine costs no allocation.
void spawn_goroutine(std::size_t stack, const body_ops& ops, void* source);

template <class Fn, class Tuple>
struct goroutine_body {
    Fn fn;
    Tuple args;
};

template <class F, class... A>
void spawn(std::size_t stack, F&& f, A&&... a) {
    using args_t = std::tuple<std::decay_t<A>...>;
    using body_t = goroutine_body<std::decay_t<F>, args_t>;
    using source_t = std::tuple<F&&, A&&...>;  // go()'s arguments, until the body is built
    static constexpr body_ops ops{
        sizeof(body_t),
        alignof(body_t),
        &typeid(std::decay_t<F>),
        [](void* at, void* source) {
            std::apply([at](F&& fn, A&&... args) { ::new (at) body_t{std::forward<F>(fn), args_t(std::forward<A>(args)...)}; },
                       std::move(*static_cast<source_t*>(source)));
        },
        [](void* body) noexcept {
            // Moved to locals first: the compiler may keep what the function
            // captured in registers, which it cannot do through `body`.
            body_t& b = *static_cast<body_t*>(body);
            std::decay_t<F> fn(std::move(b.fn));
            args_t args(std::move(b.args));
            b.~body_t();
            try {
                std::apply(std::move(fn), std::move(args));
            } catch (...) {
                goroutine_panicked(std::current_exception());
            }
            // fn and args go before the goroutine ends, not when its stack is
            // reused: what they hold (channels, say) is released now.
        },
        [](void* body) noexcept { static_cast<body_t*>(body)->~body_t(); },
        [](void* source) noexcept -> const void* {
            using fn_t = std::decay_t<F>;
            if constexpr (std::is_pointer_v<fn_t> && std::is_function_v<std::remove_pointer_t<fn_t>>) {
                fn_t fn = std::get<0>(*static_cast<source_t*>(source));
                return reinterpret_cast<const void*>(fn);
            } else {
                (void)source;
                return nullptr;
            }
        },
    };
    source_t source{std::forward<F>(f), std::forward<A>(a)...};
    spawn_goroutine(stack, ops, &source);
}

/// csp::run's out-of-line half: runs call(main) as a goroutine, waits, and
/// rethrows what it threw (fiber/go.cpp).
void run_main(void (*call)(void*), void* main);

}  // namespace detail

/// Starts f(args...) as a new goroutine (Go's `go f(args...)`). Arguments are
/// decay-copied or moved into it. Callable from goroutines and plain threads.
template <class F, class... A>
    requires std::is_invocable_v<std::decay_t<F>, std::decay_t<A>...>
void go(F&& f, A&&... args) {
    detail::spawn(0, std::forward<F>(f), std::forward<A>(args)...);
}

/// go() with an explicit stack size.
template <class F, class... A>
void go(stack_size s, F&& f, A&&... args) {
    detail::spawn(s.bytes, std::forward<F>(f), std::forward<A>(args)...);
}

/// Runs `main()` as a goroutine and blocks the calling thread until it
/// returns; an exception from `main` is rethrown here. `main` may be any
/// callable, move-only ones included; it is called in place, never copied.
/// From a goroutine it is simply called. For programs ported from Go:
///
///   int main() { csp::run([] { ... }); }
template <class F>
    requires std::is_invocable_v<std::remove_reference_t<F>&>
void run(F&& main) {
    using main_t = std::remove_reference_t<F>;
    if constexpr (std::is_function_v<main_t>) {
        run([&main] { main(); });  // a function's name: call it through a lambda
    } else {
        detail::run_main([](void* m) { static_cast<void>((*static_cast<main_t*>(m))()); },
                         const_cast<void*>(static_cast<const void*>(std::addressof(main))));
    }
}

/// Lets other goroutines run (Go's runtime.Gosched). From a plain thread it
/// yields the thread.
void yield() noexcept;

/// Number of scheduler threads: CSP_PROCS, or the hardware threads (Go's
/// GOMAXPROCS). Starts the runtime if it is not running yet.
std::size_t procs();

}  // namespace csp
