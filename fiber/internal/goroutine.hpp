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

struct registry_shard;

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
        object_.store(object, std::memory_order_relaxed);
        reason_.store(r, std::memory_order_relaxed);
    }
    wait_reason reason() const noexcept { return reason_.load(std::memory_order_relaxed); }
    const void* object() const noexcept { return object_.load(std::memory_order_relaxed); }
    std::uint64_t id() const noexcept { return id_; }

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
    const void* const function;            // the function it runs, if go() was given one; or null
    std::atomic<bool> is_main{false};      // the goroutine of csp::run's main (dumps say "main")
    const char* entry() const noexcept { return entry_->name(); }

    /// Calls f(const goroutine&) for every live goroutine, holding each
    /// registry shard's lock in turn.
    template <class F>
    static void for_each(F&& f);
    static std::size_t count() noexcept;

private:
    friend struct registry_shard;
    std::uint64_t id_;
    const std::type_info* entry_;
    std::atomic<wait_reason> reason_{wait_reason::none};
    std::atomic<const void*> object_{nullptr};
    registry_shard* shard_;
    goroutine* prev_ = nullptr;
    goroutine* next_ = nullptr;

    using visit_fn = void (*)(const goroutine&, void*);
    static void visit_all(visit_fn fn, void* arg);
};

template <class F>
void goroutine::for_each(F&& f) {
    visit_all([](const goroutine& g, void* arg) { (*static_cast<std::remove_reference_t<F>*>(arg))(g); }, &f);
}

}  // namespace csp::detail
