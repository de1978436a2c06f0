// The in-process job store: every record in a table indexed by id (ids
// are dense: the dispatcher counts them from 1), in chunks that never move,
// one FIFO of ids per priority, and a min-heap of the jobs waiting for a
// time (scheduled, retrying). A job cancelled while it
// waits stays in its FIFO or heap and is skipped when it comes up (cheaper
// than finding it in the middle).
//
// Chunks are mapped from the kernel with their pages already present
// (MAP_POPULATE), 64 records for the first, doubling up to 4096 (754 KB),
// then 4096 each. Their records are constructed one by one, in slot order,
// as ids reach them (slots below `built_` are constructed; a slot whose id
// has not arrived yet holds id 0). Why: records are never freed, so every
// record lands on fresh memory, and a page fault costs 3-10 us on this
// kind of machine (a VM). Faulting a page in every ~22 records, or a whole
// chunk at its first use (malloc'd and value-initialized: ~40 us for 256
// records, with malloc_consolidate), put one job in 22 (or 256) in the
// submit -> start tail. Populating a chunk costs one call per 4096 jobs.
#include <sys/mman.h>

#include <array>
#include <bit>
#include <deque>
#include <queue>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include <dispatcher/job_store.hpp>

namespace csp {

namespace {

class memory_store final : public job_store {
public:
    job_record& add(job_record&& r) override {
        const auto i = static_cast<std::size_t>(r.info.id - 1);
        build_up_to(i);
        job_record& in = *slot(i);
        in = std::move(r);
        if (in.info.state == job_state::queued) make_ready(in);
        else schedule(in);
        return in;
    }

    void schedule(job_record& r) override {
        waiting_.push({r.due, r.info.id});
    }

    std::optional<std::chrono::steady_clock::time_point> next_due() const override {
        // Entries of jobs cancelled while waiting may head the heap: only
        // an earlier wake-up, harmless (promote_due drops them).
        if (waiting_.empty()) return std::nullopt;
        return waiting_.top().first;
    }

    void promote_due(std::chrono::steady_clock::time_point now,
                     const std::function<void(job_record&)>& promoted) override {
        while (!waiting_.empty() && waiting_.top().first <= now) {
            job_record* r = find(waiting_.top().second);
            waiting_.pop();
            if (r && (r->info.state == job_state::scheduled || r->info.state == job_state::retrying)) {
                r->info.state = job_state::queued;
                make_ready(*r);
                promoted(*r);
            }
        }
    }

    job_record* find(job_id id) override {
        if (id == 0 || id - 1 >= built_) return nullptr;
        job_record* r = slot(static_cast<std::size_t>(id - 1));
        return r->info.id == id ? r : nullptr;  // 0: an id not added yet (a hole)
    }

    job_record* next_ready() override {
        for (std::size_t p = ready_.size(); p-- > 0;) {
            auto& q = ready_[p];
            while (!q.empty()) {
                job_record* r = find(q.front());
                q.pop_front();
                // Skipped: cancelled while queued (unqueued() counted it already).
                if (r && r->info.state == job_state::queued) {
                    --queued_;
                    return r;
                }
            }
        }
        return nullptr;
    }

    std::size_t queued() const override { return queued_; }
    void unqueued(job_record& r) override {
        if (r.info.state == job_state::queued) --queued_;  // a waiting one is skipped in promote_due
    }

    void for_each(const std::function<void(job_record&)>& f) override {
        for (std::size_t i = 0; i < built_; ++i)
            if (job_record* r = slot(i); r->info.id != 0) f(*r);
    }

    memory_store() = default;
    memory_store(const memory_store&) = delete;
    memory_store& operator=(const memory_store&) = delete;
    ~memory_store() override {
        for (std::size_t i = 0; i < built_; ++i) slot(i)->~job_record();
        for (std::size_t c = 0; c < chunks_.size(); ++c) munmap(chunks_[c], chunk_records(c) * sizeof(job_record));
    }

private:
    // Chunk c holds first << c records up to c == doublings, then last each.
    static constexpr std::size_t first = 64, doublings = 6, last = first << doublings;
    static constexpr std::size_t doubling_slots = first * ((std::size_t{1} << (doublings + 1)) - 1);  // chunks 0..6

    static std::size_t chunk_records(std::size_t c) { return c <= doublings ? first << c : last; }

    job_record* slot(std::size_t i) const {
        if (i < doubling_slots) {
            // Chunk c starts at slot first * (2^c - 1).
            const auto c = static_cast<std::size_t>(std::bit_width(i / first + 1) - 1);
            return chunks_[c] + (i - first * ((std::size_t{1} << c) - 1));
        }
        const std::size_t j = i - doubling_slots;
        return chunks_[doublings + 1 + j / last] + j % last;
    }

    /// Constructs the records of slots built_..i (empty: id 0).
    void build_up_to(std::size_t i) {
        for (; built_ <= i; ++built_) {
            if (built_ == mapped_) map_chunk();
            new (slot(built_)) job_record();
        }
    }

    void map_chunk() {
        const std::size_t bytes = chunk_records(chunks_.size()) * sizeof(job_record);
        void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (p == MAP_FAILED) throw std::bad_alloc();
        chunks_.push_back(static_cast<job_record*>(p));
        mapped_ += chunk_records(chunks_.size() - 1);
    }

    void make_ready(job_record& r) {
        ready_[static_cast<std::size_t>(r.info.priority)].push_back(r.info.id);
        ++queued_;
    }

    using due_entry = std::pair<std::chrono::steady_clock::time_point, job_id>;
    std::vector<job_record*> chunks_;  // slot i holds id i + 1 (see slot())
    std::size_t built_ = 0;            // slots constructed, from 0 up
    std::size_t mapped_ = 0;           // slots in chunks_
    std::priority_queue<due_entry, std::vector<due_entry>, std::greater<>> waiting_;
    std::array<std::deque<job_id>, 3> ready_;  // indexed by job_priority
    std::size_t queued_ = 0;
};

}  // namespace

std::unique_ptr<job_store> make_memory_store() { return std::make_unique<memory_store>(); }

}  // namespace csp
