// What the stack pool's reserve of ready slabs holds (stack_pool.cpp), for
// tests: it must stay within its bound, empty on csp::free_os_memory(), and
// hand out guarded stacks.
#pragma once

#include <cstddef>

namespace csp::detail {

struct stack_reserve_view {
    bool started = false;          // the refiller thread exists (the process grew)
    bool refiller_asleep = false;  // it waits for a spawner to ask
    bool asked = false;            // a spawner asked since the last free_os_memory(): it fills up
    std::size_t ready_stacks = 0;  // in ready slabs
    std::size_t bound_stacks = 0;  // the most it may hold
    std::size_t slabs_taken = 0;   // by spawners, ever
};

stack_reserve_view stack_reserve_now() noexcept;

}  // namespace csp::detail
