// The in-process job store: every record in a hash table (records never
// move: node-based), and one FIFO of ids per priority. A job cancelled while
// queued stays in its FIFO and is skipped when it comes up (cheaper than
// finding it in the middle of a deque).
#include <array>
#include <deque>
#include <unordered_map>

#include <dispatcher/job_store.hpp>

namespace csp {

namespace {

class memory_store final : public job_store {
public:
    void add(job_record r) override {
        const job_id id = r.info.id;
        const auto p = static_cast<std::size_t>(r.info.priority);
        records_.emplace(id, std::move(r));
        ready_[p].push_back(id);
        ++queued_;
    }

    job_record* find(job_id id) override {
        auto it = records_.find(id);
        return it == records_.end() ? nullptr : &it->second;
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
    void unqueued(job_record&) override { --queued_; }

    void for_each(const std::function<void(job_record&)>& f) override {
        for (auto& [id, r] : records_) f(r);
    }

private:
    std::unordered_map<job_id, job_record> records_;
    std::array<std::deque<job_id>, 3> ready_;  // indexed by job_priority
    std::size_t queued_ = 0;
};

}  // namespace

std::unique_ptr<job_store> make_memory_store() { return std::make_unique<memory_store>(); }

}  // namespace csp
