// The registry of live goroutines: sharded lists, each under a spin lock, so
// spawning on several threads at once does not contend on one lock.
#include <fiber/internal/goroutine.hpp>

#include <mutex>

#include <fiber/detail/goroutine_local.hpp>
#include <fiber/detail/spin_mutex.hpp>
#include <fiber/internal/overflow.hpp>
#include <fiber/internal/sched.hpp>
#include <fiber/internal/sanitizer.hpp>

namespace csp::detail {

struct alignas(64) registry_shard {
    spin_mutex mu;
    goroutine* head = nullptr;
    std::size_t count = 0;

    void add(goroutine* g) noexcept {
        std::lock_guard lk(mu);
        g->next_ = head;
        if (head) head->prev_ = g;
        head = g;
        ++count;
    }
    void remove(goroutine* g) noexcept {
        std::lock_guard lk(mu);
        if (g->prev_) g->prev_->next_ = g->next_;
        else head = g->next_;
        if (g->next_) g->next_->prev_ = g->prev_;
        --count;
    }
};

namespace {
constexpr std::size_t shard_count = 16;
registry_shard shards[shard_count];
std::atomic<std::uint64_t> next_id{1};

// Go's goidcache: a thread takes ids a batch at a time, so that a spawn
// does not do a locked add on a line every spawning thread writes.
constexpr std::uint64_t id_batch = 16;
// Reads of one record a dump tries before leaving it out (visit_all).
constexpr int max_snapshot_tries = 64;

std::uint64_t new_id() noexcept {
    // Constant-initialized: no TLS init guard per use.
    thread_local std::uint64_t next = 0, end = 0;
    if (next == end) [[unlikely]] {
        next = next_id.fetch_add(id_batch, std::memory_order_relaxed);
        end = next + id_batch;
    }
    return next++;
}

registry_shard& my_shard() noexcept {
    static std::atomic<std::size_t> threads{0};
    // Constant-initialized (0: not chosen yet), so no TLS init guard per use.
    thread_local std::size_t index_plus_one = 0;
    if (index_plus_one == 0) [[unlikely]]
        index_plus_one = threads.fetch_add(1, std::memory_order_relaxed) % shard_count + 1;
    return shards[index_plus_one - 1];
}
}  // namespace

goroutine::goroutine(const std::type_info& entry, const boost::context::stack_context& stack,
                     const void* function_address)
    : boost::fibers::fiber_properties(nullptr),
      stack_bottom(static_cast<const char*>(stack.sp) - stack.size),
      stack_size(stack.size),
      id_(new_id()),
      entry_(&entry),
      function_(function_address),
      shard_(&my_shard()) {
    tsan_fiber = tsan_fiber_create();
    canary = canary_stacks_exist.load(std::memory_order_relaxed) && has_canary(stack_bottom);
    shard_->add(this);
}

void goroutine::retire_to_pool() noexcept {
    // No lock: a dump reads this record under its seqlock (reincarnate,
    // visit_all), and from now on skips it.
    pooled_.store(true, std::memory_order_relaxed);
}

void goroutine::reincarnate(const std::type_info& entry, const void* function_address,
                            const body_ops& body_ops) noexcept {
    local = nullptr;
    ops = &body_ops;
    ++reuses;
    // A dump may read this record now (it stays listed while pooled): it
    // skips it while `pooled_` is set, and rereads it if `version_` moved
    // (a seqlock: no locked instruction here, which would wait for every
    // store before it, each a line another thread may have written last).
    const std::uint32_t v = version_.load(std::memory_order_relaxed);
    version_.store(v + 1, std::memory_order_relaxed);  // odd: being written
    std::atomic_thread_fence(std::memory_order_release);
    is_main.store(false, std::memory_order_relaxed);
    set_waiting(wait_reason::none, nullptr);
    id_.store(new_id(), std::memory_order_relaxed);
    entry_.store(&entry, std::memory_order_relaxed);
    function_.store(function_address, std::memory_order_relaxed);
    pooled_.store(false, std::memory_order_relaxed);
    version_.store(v + 2, std::memory_order_release);
}

// Not instrumented by ThreadSanitizer: it may switch TSan to the dying
// goroutine's fiber (see tsan_retire in proc.cpp), after which no instrumented
// frame of ours may close.
CSP_NO_SANITIZE_THREAD goroutine::~goroutine() {
    shard_->remove(this);
#if defined(CSP_TSAN_FIBERS)
    tsan_retire(tsan_fiber);  // last: may switch fibers
#endif
}

bool goroutine::read_snapshot(snapshot& out) const noexcept {
    // The seqlock's read side: a reincarnation that overlaps our reads
    // changes version_ (it writes a handful of fields: a retry is rare and
    // short). Bounded: a fiber that a spawn loop takes back from the pool
    // every ~100 ns could keep moving it while the caller holds a shard's
    // lock; such a record is left out (a dump is not one instant across
    // records anyway).
    for (int tries = 0; tries < max_snapshot_tries; ++tries, spin_pause()) {
        const std::uint32_t v = version_.load(std::memory_order_acquire);
        if (v & 1) continue;
        if (pooled_.load(std::memory_order_relaxed)) return false;
        out = {id_.load(std::memory_order_relaxed),
               reason(),
               object(),
               entry_.load(std::memory_order_relaxed)->name(),
               function_.load(std::memory_order_relaxed),
               is_main.load(std::memory_order_relaxed)};
        std::atomic_thread_fence(std::memory_order_acquire);
        if (version_.load(std::memory_order_relaxed) == v) return true;
    }
    return false;
}

void goroutine::visit_all(visit_fn fn, void* arg) {
    snapshot snap;
    for (registry_shard& s : shards) {
        std::lock_guard lk(s.mu);
        for (const goroutine* g = s.head; g; g = g->next_)
            if (g->read_snapshot(snap)) fn(snap, arg);
    }
}

std::size_t goroutine::count() noexcept {
    std::size_t n = 0;
    for (registry_shard& s : shards) {
        std::lock_guard lk(s.mu);
        n += s.count;
    }
    return n;
}

const char* to_string(wait_reason r) noexcept {
    switch (r) {
        case wait_reason::none: return "runnable";
        case wait_reason::chan_send: return "chan send";
        case wait_reason::chan_receive: return "chan receive";
        case wait_reason::select: return "select";
        case wait_reason::select_no_cases: return "select (no cases)";
        case wait_reason::chan_send_nil: return "chan send (nil chan)";
        case wait_reason::chan_receive_nil: return "chan receive (nil chan)";
        case wait_reason::sleep: return "sleep";
        case wait_reason::wait_group: return "sync.WaitGroup.Wait";
        case wait_reason::mutex: return "sync.Mutex.Lock";
        case wait_reason::blocking: return "blocking call";
    }
    return "unknown";
}

void*& goroutine_local() noexcept {
    if (goroutine* g = current_goroutine().g) return g->local;
    thread_local void* plain_thread_word = nullptr;
    return plain_thread_word;
}

}  // namespace csp::detail
