// The in-process job store: every record in a table indexed by id (ids
// are dense: the dispatcher counts them from 1), in chunks that never move,
// one FIFO of ids per priority, and a min-heap of the jobs waiting for a
// time (scheduled, retrying). A job cancelled while it
// waits stays in its FIFO or heap and is skipped when it comes up (cheaper
// than finding it in the middle).
#include <array>
#include <deque>
#include <queue>
#include <memory>
#include <utility>
#include <vector>

#include <dispatcher/job_store.hpp>

namespace csp {

namespace {

class memory_store final : public job_store {
public:
    job_record& add(job_record&& r) override {
        const job_id id = r.info.id;
        const std::size_t chunk = static_cast<std::size_t>((id - 1) / chunk_size);
        while (chunks_.size() <= chunk) chunks_.push_back(std::make_unique<job_record[]>(chunk_size));
        job_record& in = chunks_[chunk][(id - 1) % chunk_size];
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
        if (id == 0) return nullptr;
        const std::size_t chunk = static_cast<std::size_t>((id - 1) / chunk_size);
        if (chunk >= chunks_.size()) return nullptr;
        job_record& r = chunks_[chunk][(id - 1) % chunk_size];
        return r.info.id == id ? &r : nullptr;  // 0: an id never added (a hole)
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
        for (auto& c : chunks_)
            for (std::size_t i = 0; i < chunk_size; ++i)
                if (c[i].info.id != 0) f(c[i]);
    }

private:
    void make_ready(job_record& r) {
        ready_[static_cast<std::size_t>(r.info.priority)].push_back(r.info.id);
        ++queued_;
    }

    using due_entry = std::pair<std::chrono::steady_clock::time_point, job_id>;
    static constexpr std::size_t chunk_size = 256;
    std::vector<std::unique_ptr<job_record[]>> chunks_;  // record of id: chunks_[(id-1)/256][(id-1)%256]
    std::priority_queue<due_entry, std::vector<due_entry>, std::greater<>> waiting_;
    std::array<std::deque<job_id>, 3> ready_;  // indexed by job_priority
    std::size_t queued_ = 0;
};

}  // namespace

std::unique_ptr<job_store> make_memory_store() { return std::make_unique<memory_store>(); }

}  // namespace csp
