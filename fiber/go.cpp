// go.hpp's out-of-line half: starting a goroutine (the Boost.Fiber side of
// csp::go) and csp::run.
#include <fiber/go.hpp>

#include <new>
#include <stdexcept>

#include <boost/fiber/context.hpp>
#include <boost/fiber/operations.hpp>

#include <fiber/detail/parker.hpp>
#include <fiber/internal/exit.hpp>
#include <fiber/internal/goroutine.hpp>
#include <fiber/internal/goroutine_pool.hpp>
#include <fiber/internal/sanitizer.hpp>
#include <fiber/internal/sched.hpp>

namespace csp::detail {

namespace {

/// What Boost runs: the bodies go() builds for this fiber, whose types only
/// go()'s callers know. One, or (from the pool) one after another.
struct goroutine_main {
    goroutine* g;

    void operator()() const noexcept {
        for (;;) {
            goroutine_started();
            g->ops->run(g->body);
            // Pooled: parked until a go() gives it its next body.
            if (!goroutine_finished(g)) return;  // Boost ends the fiber
        }
    }
};

bool fits_body_slot(const body_ops& ops) noexcept {
    return ops.size <= goroutine::body_slot_bytes && ops.align <= goroutine::body_slot_align;
}

}  // namespace

void spawn_goroutine(std::size_t stack, const body_ops& ops, void* source) {
    const void* const function = ops.function ? ops.function(source) : nullptr;  // before the body takes it
    // Fast path: an ended goroutine's fiber, parked in the pool, runs it.
    const bool poolable = stack == 0 && fits_body_slot(ops);
    if (poolable) {
        if (goroutine* g = take_idle_goroutine()) {
            try {
                ops.construct(g->body, source);
            } catch (...) {
                return_idle_goroutine(g);
                throw;
            }
            g->reincarnate(*ops.entry, function, ops);
            make_ready(g->context());
            return;
        }
    }
    goroutine_stack st = goroutine_stack::take(stack);
    // A poolable fiber's body area holds any small body, for its next ones.
    void* body = poolable ? st.reserve(goroutine::body_slot_bytes, goroutine::body_slot_align)
                          : st.reserve(ops.size, ops.align);
    if (!body) {
        st.give_back();
        throw std::length_error("csp::go: the function and its arguments take more than half the goroutine's stack");
    }
    try {
        ops.construct(body, source);
    } catch (...) {
        st.give_back();
        throw;
    }
    // The record lives at the top of the goroutine's own stack; Boost's
    // context owns it and destroys it with the context (goroutine's operator
    // delete frees nothing: the stack goes back to the pool after that).
    auto* record = ::new (st.record_space()) goroutine(*ops.entry, st.usable(), function);
    record->ops = &ops;
    record->body = body;
    record->poolable = poolable;
    boost::intrusive_ptr<boost::fibers::context> ctx;
#if defined(CSP_TSAN_FIBERS)
    // Boost.Context steps onto the new stack once while building the fiber
    // and comes straight back. ThreadSanitizer must count that visit as the
    // new goroutine's, or its entry frame is left on our shadow stack.
    void* const creator = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(record->tsan_fiber, 0);
#endif
    try {
        ctx = boost::fibers::make_worker_context_with_properties(boost::fibers::launch::post, record,
                                                                 goroutine_stack{st}, goroutine_main{record});
    } catch (...) {
#if defined(CSP_TSAN_FIBERS)
        __tsan_switch_to_fiber(creator, 0);
#endif
        ops.destroy(body);
        record->~goroutine();
        st.give_back();
        throw;
    }
#if defined(CSP_TSAN_FIBERS)
    __tsan_switch_to_fiber(creator, 0);
#endif
    // The scheduler owns one reference (dropped when it frees the terminated
    // fiber); drop ours so that reference is the last.
    boost::fibers::context* raw = ctx.get();
    ctx.reset();
    make_ready(raw);
}

void run_main(void (*call)(void*), void* main) {
    if (in_goroutine()) {  // already on the runtime: just call it
        call(main);
        return;
    }
    // The caller blocks on a parker the main goroutine claims when it ends,
    // so deadlock detection counts the caller as waiting for goroutines.
    parker finished;
    std::exception_ptr error;
    go([call, main, &finished, &error] {
        current_goroutine().g->is_main.store(true, std::memory_order_relaxed);  // dumps say "main"
        try {
            call(main);
        } catch (...) {
            error = std::current_exception();
        }
        if (finished.try_claim(1)) finished.wake();
    });
    finished.park([] {});
    // Statics the goroutines created meanwhile are destroyed at exit too.
    stop_scheduler_threads_at_exit();
    if (error) std::rethrow_exception(error);
}

}  // namespace csp::detail
