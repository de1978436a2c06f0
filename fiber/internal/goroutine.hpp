// goroutine: what the runtime knows about one goroutine, for dumps and
// deadlock reports (Go's g, minus the stack). Stored as the Boost context's
// fiber_properties, so the running goroutine's record is one load away.
#pragma once

#include <atomic>
#include <cstdint>
#include <typeinfo>

#include <boost/context/stack_context.hpp>
#include <boost/fiber/context.hpp>
#include <boost/fiber/properties.hpp>

#include <fiber/detail/parker.hpp>
#include <fiber/internal/overflow.hpp>

namespace csp::detail {

const char* to_string(wait_reason r) noexcept;

/// A hint to fetch `p`'s cache line in a state that allows writing.
inline void prefetch_for_write(const void* p) noexcept {
#if defined(__x86_64__)
    // prefetchw (AMD since K6, Intel since Broadwell; a no-op before);
    // GCC's __builtin_prefetch(p, 1) emits it only with -mprfchw.
    asm volatile("prefetchw %0" ::"m"(*static_cast<const char*>(p)));
#else
    __builtin_prefetch(p, 1, 3);
#endif
}

struct registry_shard;
struct body_ops;  // fiber/go.hpp

class goroutine final : public boost::fibers::fiber_properties {
public:
    /// Registers the goroutine; `entry` is the type of the function it runs
    /// (its mangled name is demangled when printed), `function` its address
    /// when it is a function (named by its symbol), or null; `stack` is the
    /// part of its stack it may use.
    goroutine(const std::type_info& entry, const boost::context::stack_context& stack,
              const void* function = nullptr);
    ~goroutine() override;  // Boost deletes it with the fiber's context

    /// Records live in their goroutine's stack (see spawn_goroutine):
    /// Boost's `delete` only destroys one, the stack is freed with the fiber.
    static void operator delete(void*) noexcept {}

    static goroutine* of(boost::fibers::context* ctx) noexcept {
        return static_cast<goroutine*>(ctx->get_properties());
    }
    /// The Boost context that runs this goroutine.
    boost::fibers::context* context() const noexcept { return ctx_; }

    void set_waiting(wait_reason r, const void* object) noexcept {
        // Release (free on x86): a dump that sees these sees the
        // reincarnation before them too (goroutine.cpp's seqlock).
        object_.store(object, std::memory_order_release);
        reason_.store(r, std::memory_order_release);
    }
    wait_reason reason() const noexcept { return reason_.load(std::memory_order_relaxed); }
    const void* object() const noexcept { return object_.load(std::memory_order_relaxed); }
    std::uint64_t id() const noexcept { return id_.load(std::memory_order_relaxed); }

    /// The goroutine's stack: [bottom, bottom + size).
    const void* stack_bottom = nullptr;
    std::size_t stack_size = 0;
    /// Its stack has a canary page below it instead of a guard page
    /// (overflow.hpp). Such a goroutine is checked where it switches away
    /// (it parks, yields or ends) and when it wakes another (parker::wake,
    /// behind the global canary_stacks_exist gate). Ordinary goroutines pay
    /// one predictable branch where they switch.
    bool canary = false;
    void check_canary(canary_check how) const noexcept {
        if (canary) [[unlikely]]
            check_stack_canary(stack_bottom, how);
    }
    void* tsan_fiber = nullptr;  // ThreadSanitizer's handle, in TSan builds
    void* local = nullptr;       // csp::detail::goroutine_local()
    std::atomic<bool> is_main{false};      // the goroutine of csp::run's main (dumps say "main")

    // What its fiber runs next (go.cpp's goroutine_main): the body go()
    // built at `body`, in the stack's top bytes above what Boost uses.
    const body_ops* ops = nullptr;
    void* body = nullptr;
    /// Its fiber may run another goroutine once this one ends (Go's gFree):
    /// a default-size stack whose body area holds any small body
    /// (body_slot_bytes, body_slot_align).
    bool poolable = false;
    goroutine* next_idle = nullptr;   // link in an idle list (goroutine_pool.cpp)
    goroutine* next_batch = nullptr;  // link between batches of them (ditto), on a batch's first
    std::size_t batch_len = 0;        // that batch's length, on its first (ditto)
    std::uint32_t reuses = 0;        // goroutines its fiber ran before this one
    static constexpr std::size_t body_slot_bytes = 64;
    static constexpr std::size_t body_slot_align = 16;

    /// Asks the CPU for this pooled goroutine's record and body slot, for
    /// writing, ahead of the go() that takes it next. They are lines the
    /// thread that ran it last wrote (at 2 threads, most of spawn_join's
    /// children end on the thread that did not spawn them): fetched one
    /// spawn ahead, their misses overlap that spawn's work instead of
    /// stalling the next one's first locked instruction, which waits for
    /// every store before it (spawn_join/2 ~75 -> ~60 ns).
    void prefetch_for_reuse() const noexcept {
        // The body slot lies right below the record: goroutine_stack takes
        // the record off the stack's top, then reserve() the slot under it.
        const char* p = reinterpret_cast<const char*>(this) - body_slot_bytes;
        const char* const end = reinterpret_cast<const char*>(this + 1);
        for (; p < end; p += 64) prefetch_for_write(p);
    }

    /// The goroutine ended and its fiber waits in the pool: dumps leave it
    /// out from now on (count() does not: it is a capacity hint).
    void retire_to_pool() noexcept;
    /// A pooled fiber starts goroutine number next: a new id, what it runs
    /// (its body is built already), a clean slate; listed again.
    void reincarnate(const std::type_info& entry, const void* function_address, const body_ops& body_ops) noexcept;

    /// What a dump shows of one goroutine, read consistently.
    struct snapshot {
        std::uint64_t id;
        wait_reason reason;
        const void* object;
        const char* entry;     // the mangled type of what it runs
        const void* function;  // the function it runs, if go() was given one; or null
        bool is_main;
    };
    /// Calls f(const snapshot&) for every live goroutine, holding each
    /// registry shard's lock in turn.
    template <class F>
    static void for_each(F&& f);
    /// Goroutines in the registry, pooled ones included (a capacity hint).
    static std::size_t count() noexcept;

private:
    friend struct registry_shard;
    // Written before the goroutine is listed, or by reincarnate (while the
    // dumps' version_ check guards them); dumps read them in visit_all.
    std::atomic<std::uint64_t> id_;
    std::atomic<const std::type_info*> entry_;
    std::atomic<const void*> function_;
    // Odd while reincarnate rewrites the fields above (a seqlock).
    std::atomic<std::uint32_t> version_{0};
    std::atomic<wait_reason> reason_{wait_reason::none};
    std::atomic<const void*> object_{nullptr};
    registry_shard* shard_;
    std::atomic<bool> pooled_{false};  // set by the goroutine itself; cleared by reincarnate
    goroutine* prev_ = nullptr;
    goroutine* next_ = nullptr;

    /// This goroutine as a dump shows it; false if it is pooled, or kept
    /// changing while read.
    bool read_snapshot(snapshot& out) const noexcept;
    using visit_fn = void (*)(const snapshot&, void*);
    static void visit_all(visit_fn fn, void* arg);
};

template <class F>
void goroutine::for_each(F&& f) {
    visit_all([](const snapshot& g, void* arg) { (*static_cast<std::remove_reference_t<F>*>(arg))(g); }, &f);
}

}  // namespace csp::detail
