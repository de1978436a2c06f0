// csp::task_queue on the memory and the SQLite backend, with its clients as
// goroutines (one or two scheduler threads: the binary's two registrations)
// and as plain threads: named tasks, retries, timeouts, cancel of queued and
// running tasks, an unknown type, a bad payload, shutdown, and 10,000 tasks
// that each reach exactly one final state.
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <tuple>

#include <chan/select.hpp>
#include <chan/time.hpp>
#include <fiber/blocking.hpp>
#include <dispatcher/task_queue.hpp>

#include "../harness/harness.hpp"
#include "../harness/stress.hpp"

namespace csp_test {
namespace {

using csp::job_state;
using nlohmann::json;

using param = std::tuple<setting, std::string>;  // (setting, store: "memory" or "sqlite")

class TaskQueue : public ::testing::TestWithParam<param> {
protected:
    void TearDown() override {
        for (const auto& p : files_)
            for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(p + suffix);
    }
    template <class F>
    void run(F&& body) {
        run_in(std::get<0>(GetParam()), std::forward<F>(body));
    }
    setting mode() const { return std::get<0>(GetParam()); }

    /// A backend of the test's kind (a fresh SQLite file each time).
    std::unique_ptr<csp::queue_backend> backend(csp::backend_options o = {}) {
        if (std::get<1>(GetParam()) == "memory") return csp::make_memory_backend(o);
        static std::atomic<int> n{0};
        files_.push_back((std::filesystem::temp_directory_path() /
                          ("cspfiber_task_queue_" + std::to_string(::getpid()) + "_" + std::to_string(n++) + ".db"))
                             .string());
        return csp::make_sqlite_backend(files_.back(), o);
    }
    csp::task_queue_options options(std::size_t workers) {
        csp::task_queue_options o;
        o.workers = workers;
        o.backend = backend();
        o.backoff = [](const csp::claimed_task&, unsigned) { return std::chrono::steady_clock::duration::zero(); };
        o.claim_wait = std::chrono::milliseconds(100);
        return o;
    }
    std::vector<std::string> files_;
};

std::string param_name(const ::testing::TestParamInfo<param>& i) {
    return std::string(to_string(std::get<0>(i.param))) + "_" + std::get<1>(i.param);
}

INSTANTIATE_TEST_SUITE_P(Settings, TaskQueue,
                         ::testing::Combine(::testing::Values(setting::goroutines, setting::threads),
                                            ::testing::Values(std::string("memory"), std::string("sqlite"))),
                         param_name);

csp::task_record final_record(csp::task_queue& q, csp::task_id id) {
    const auto t0 = steady::now();
    for (;;) {
        auto r = q.status(id);
        if (!r) {
            ADD_FAILURE() << "task " << id << " not found";
            return {};
        }
        if (csp::is_final(r->state) || since(t0) > patience) return *r;
        csp::sleep_for(2ms);
    }
}

TEST_P(TaskQueue, NamedTasksRunWithTheirPayloadAndStoreTheirResult) {
    run([&] {
        csp::task_queue q(options(2));
        q.handle("add", [](const json& p, const csp::context&) -> json { return p["a"].get<int>() + p["b"].get<int>(); });
        q.handle("hello", [](const json& p, const csp::context&) -> json { return "hello " + p.get<std::string>(); });
        std::vector<csp::task_id> ids;
        task_group clients(mode());
        std::mutex mu;
        clients.go_n(4, [&](int c) {
            for (int i = 0; i < 5; ++i) {
                auto id = q.submit("add", {{"a", c}, {"b", i}});
                std::lock_guard lk(mu);
                ids.push_back(id);
            }
        });
        clients.wait();
        auto h = q.submit("hello", "wörld");
        ASSERT_TRUE(q.wait_all_for(patience));
        std::set<int> sums;
        for (auto id : ids) {
            auto r = final_record(q, id);
            EXPECT_EQ(r.state, job_state::succeeded) << r.error;
            EXPECT_EQ(r.type, "add");
            EXPECT_EQ(r.attempts, 1u);
            sums.insert(json::parse(r.result).get<int>());
        }
        EXPECT_EQ(sums, (std::set<int>{0, 1, 2, 3, 4, 5, 6, 7}));
        EXPECT_EQ(final_record(q, h).result, R"("hello wörld")");
        EXPECT_EQ(q.stats().succeeded, 21u);
        q.shutdown();
        EXPECT_TRUE(q.stopped());
        EXPECT_EQ(q.metrics().completed, 21u);
    });
}

TEST_P(TaskQueue, ATypeWithoutHandlerAndABadPayloadFailTheirTaskAndTheOthersGoOn) {
    run([&] {
        csp::task_queue q(options(1));
        q.handle("echo", [](const json& p, const csp::context&) { return p; });
        auto unknown = q.submit("resize", {{"w", 1}});
        auto bad = q.submit_text("echo", "{not json").id;
        std::string deep(1000, '[');
        deep += std::string(1000, ']');
        auto too_deep = q.submit_text("echo", deep).id;
        auto good = q.submit("echo", {1, 2});
        EXPECT_EQ(final_record(q, good).result, "[1,2]");
        auto u = final_record(q, unknown);
        EXPECT_EQ(u.state, job_state::failed);
        EXPECT_NE(u.error.find("no handler for task type \"resize\""), std::string::npos) << u.error;
        auto b = final_record(q, bad);
        EXPECT_EQ(b.state, job_state::failed);
        EXPECT_NE(b.error.find("undecodable payload"), std::string::npos) << b.error;
        auto d = final_record(q, too_deep);
        EXPECT_EQ(d.state, job_state::failed);
        EXPECT_NE(d.error.find("nested deeper"), std::string::npos) << d.error;
        EXPECT_EQ(q.metrics().undeliverable, 3u);
    });
}

TEST_P(TaskQueue, AFailingTaskIsRetriedWithItsAttemptAndEndsByItsLastVerdict) {
    run([&] {
        auto o = options(2);
        o.events_from_start = true;
        csp::task_queue q(std::move(o));
        // Fails its first `payload` attempts (the delivery counts them).
        q.handle("flaky", [](const json& p, const csp::context&, const csp::claimed_task& d) -> json {
            if (d.attempt <= p.get<unsigned>()) throw std::runtime_error("attempt " + std::to_string(d.attempt) + " fails");
            return d.attempt;
        });
        auto ok = q.submit("flaky", 2, {.retries = 3});
        auto out = q.submit("flaky", 5, {.retries = 1});
        auto r = final_record(q, ok);
        EXPECT_EQ(r.state, job_state::succeeded);
        EXPECT_EQ(r.attempts, 3u);
        EXPECT_EQ(r.result, "3");
        auto f = final_record(q, out);
        EXPECT_EQ(f.state, job_state::failed);
        EXPECT_EQ(f.attempts, 2u);
        EXPECT_EQ(f.error, "attempt 2 fails");
        q.shutdown();
        std::map<csp::task_id, std::vector<job_state>> seen;
        for (const csp::task_event& e : q.events())
            if (e.what == csp::task_event::kind::job) seen[e.id].push_back(e.state);
        using S = job_state;
        EXPECT_EQ(seen[ok], (std::vector<S>{S::running, S::retrying, S::running, S::retrying, S::running, S::succeeded}));
        EXPECT_EQ(seen[out], (std::vector<S>{S::running, S::retrying, S::running, S::failed}));
        EXPECT_EQ(q.metrics().retries, 3u);
    });
}

TEST_P(TaskQueue, ATimeoutEndsTheAttemptTimedOut) {
    run([&] {
        csp::task_queue q(options(1));
        q.handle("wait", [](const json&, const csp::context& ctx) -> json {
            ctx.done().recv();
            return nullptr;
        });
        auto id = q.submit("wait", nullptr, {.timeout = 30ms});
        auto r = final_record(q, id);
        EXPECT_EQ(r.state, job_state::timed_out);
        EXPECT_FALSE(r.error.empty());
        EXPECT_GE(r.finished - r.started, 30ms);
    });
}

TEST_P(TaskQueue, ACancelledQueuedTaskNeverRunsAndARunningOneEndsCancelled) {
    run([&] {
        csp::task_queue q(options(1));
        std::atomic<int> ran{0};
        csp::chan<csp::unit> started(4);
        q.handle("block", [&](const json&, const csp::context& ctx) -> json {
            started.send(csp::unit{});
            ctx.done().recv();
            return nullptr;
        });
        q.handle("count", [&](const json&, const csp::context&) -> json { return ++ran; });
        auto blocker = q.submit("block", nullptr);
        started.recv();  // the one worker is busy: what comes next waits in the store
        auto queued = q.submit("count", nullptr);
        auto other = q.submit("count", nullptr);
        EXPECT_EQ(q.cancel(queued), csp::cancel_result::cancelled);
        EXPECT_EQ(q.cancel(queued), csp::cancel_result::already_cancelled);
        EXPECT_EQ(q.cancel(blocker), csp::cancel_result::cancelling);
        EXPECT_EQ(final_record(q, blocker).state, job_state::cancelled);
        EXPECT_EQ(final_record(q, other).state, job_state::succeeded);
        EXPECT_EQ(final_record(q, queued).state, job_state::cancelled);
        EXPECT_EQ(ran.load(), 1);
        EXPECT_EQ(q.cancel(other), csp::cancel_result::already_final);
        EXPECT_FALSE(q.cancel(999999).has_value());
    });
}

TEST_P(TaskQueue, ACancelFromAnotherProcessReachesTheRunningTaskByHeartbeat) {
    if (std::get<1>(GetParam()) != "sqlite") GTEST_SKIP() << "needs a store shared by two backends";
    run([&] {
        auto o = options(1);
        o.heartbeat_interval = 20ms;
        const std::string path = files_.back();
        csp::task_queue q(std::move(o));
        csp::chan<csp::unit> started(1);
        q.handle("block", [&](const json&, const csp::context& ctx) -> json {
            started.send(csp::unit{});
            ctx.done().recv();
            return nullptr;
        });
        auto id = q.submit("block", nullptr);
        started.recv();
        auto other = csp::make_sqlite_backend(path);  // as another process would
        EXPECT_EQ(csp::blocking([&] { return other->cancel(id); }), csp::cancel_result::cancelling);
        EXPECT_EQ(final_record(q, id).state, job_state::cancelled);
    });
}

TEST_P(TaskQueue, HandlersGivenInTheOptionsRunTasksTheStoreHeldAlready) {
    run([&] {
        auto o = options(2);
        // Tasks waiting before the queue starts (an earlier run of a durable store).
        std::vector<csp::task_id> ids;
        for (int i = 0; i < 6; ++i) {
            csp::task_spec t;
            t.type = "twice";
            t.payload = std::to_string(i);
            ids.push_back(csp::blocking([&] { return o.backend->enqueue(t).id; }));
        }
        o.handlers["twice"] = [](const json& p, const csp::context&, const csp::claimed_task&) -> json {
            return 2 * p.get<int>();
        };
        csp::task_queue q(std::move(o));
        for (int i = 0; i < 6; ++i) {
            auto r = final_record(q, ids[i]);
            EXPECT_EQ(r.state, job_state::succeeded) << r.error;
            EXPECT_EQ(r.result, std::to_string(2 * i));
        }
    });
}

TEST_P(TaskQueue, ShutdownGracefulLetsRunningTasksFinishNowCancelsThem) {
    run([&] {
        for (auto m : {csp::stop_mode::graceful, csp::stop_mode::now}) {
            csp::task_queue q(options(1));
            csp::chan<csp::unit> started(1);
            q.handle("slow", [&](const json&, const csp::context& ctx) -> json {
                started.send(csp::unit{});
                csp::select(csp::case_recv(ctx.done()), csp::case_recv(csp::after(100ms)));
                return ctx.err() == csp::context_error::none ? "done" : "stopped";
            });
            auto id = q.submit("slow", nullptr);
            started.recv();
            q.shutdown(m);
            EXPECT_TRUE(q.stopped());
            auto r = q.status(id);
            ASSERT_TRUE(r.has_value());
            EXPECT_EQ(r->state, m == csp::stop_mode::graceful ? job_state::succeeded : job_state::cancelled);
            EXPECT_THROW(q.submit("slow", nullptr), csp::dispatcher_error);
        }
    });
}

// Counts the deliveries the task_queue holds (claimed, outcome not yet
// stored); its store waits until `open_at` are held (or patience ran out).
class holding_backend final : public csp::queue_backend {
public:
    holding_backend(std::unique_ptr<csp::queue_backend> b, long open_at) : b_(std::move(b)), open_at_(open_at) {}
    csp::enqueue_result enqueue(const csp::task_spec& t) override { return b_->enqueue(t); }
    std::vector<csp::claimed_task> claim(std::size_t n, std::chrono::milliseconds wait) override {
        auto got = b_->claim(n, wait);
        std::lock_guard lk(m_);
        held_ += static_cast<long>(got.size());
        max_held_ = std::max(max_held_, held_);
        cv_.notify_all();
        return got;
    }
    bool complete(const csp::claimed_task& t, const csp::task_outcome& o) override { return complete_many({{t, o}})[0]; }
    std::vector<bool> complete_many(const std::vector<std::pair<csp::claimed_task, csp::task_outcome>>& d) override {
        {
            std::unique_lock lk(m_);
            if (!cv_.wait_for(lk, patience, [&] { return held_ >= open_at_ || opened_; })) timed_out_ = true;
            opened_ = true;  // the first store waits for the overlap; the rest go at once
        }
        auto r = b_->complete_many(d);
        std::lock_guard lk(m_);
        held_ -= static_cast<long>(d.size());
        return r;
    }
    std::vector<csp::task_id> heartbeat(const std::vector<csp::claimed_task>& r) override { return b_->heartbeat(r); }
    std::optional<csp::task_record> find(csp::task_id id) override { return b_->find(id); }
    std::vector<csp::task_record> list(std::size_t l, std::optional<job_state> s) override { return b_->list(l, s); }
    std::optional<csp::cancel_result> cancel(csp::task_id id) override { return b_->cancel(id); }
    csp::queue_stats stats() override { return b_->stats(); }
    void interrupt() override { b_->interrupt(); }

    long max_held() {
        std::lock_guard lk(m_);
        return max_held_;
    }
    bool timed_out() {
        std::lock_guard lk(m_);
        return timed_out_;
    }

private:
    std::unique_ptr<csp::queue_backend> b_;
    const long open_at_;
    std::mutex m_;
    std::condition_variable cv_;
    long held_ = 0, max_held_ = 0;
    bool opened_ = false, timed_out_ = false;
};

// Invariant 2: a finished task's worker claims again while its outcome is
// being stored (the claim overlaps the store), but the deliveries held stay
// within (2 + prefetch) x the workers even when the store is slow; and with
// a prefetch they do reach that (the store's first call waits for it).
void claims_overlap_the_store(csp::task_queue_options o, std::size_t prefetch) {
    const std::size_t workers = o.workers;
    const long bound = static_cast<long>((2 + prefetch) * workers);
    const int total = 40;
    o.prefetch = prefetch;
    auto* hb = new holding_backend(std::move(o.backend), bound);
    o.backend.reset(hb);
    csp::task_queue q(std::move(o));
    q.handle("n", [](const json& p, const csp::context&) -> json { return p; });
    std::vector<csp::task_id> ids;
    for (int i = 0; i < total; ++i) ids.push_back(q.submit("n", i));
    for (csp::task_id id : ids) EXPECT_EQ(final_record(q, id).state, job_state::succeeded) << "task " << id;
    q.shutdown();
    EXPECT_FALSE(hb->timed_out()) << "the store waited in vain for " << bound << " deliveries held at once";
    EXPECT_LE(hb->max_held(), bound);
}

TEST_P(TaskQueue, ClaimsOverlapTheStoreWithinTwiceTheWorkers) {
    run([&] { claims_overlap_the_store(options(2), 0); });
}

TEST_P(TaskQueue, APrefetchHoldsTasksInHandWithinItsBound) {
    run([&] { claims_overlap_the_store(options(2), 1); });
}

TEST_P(TaskQueue, TenThousandTasksEachReachExactlyOneFinalState) {
    run([&] {
#ifdef CSP_TEST_SANITIZED
        const int total = std::get<1>(GetParam()) == "sqlite" ? 300 : 600;
#else
        const int total = std::get<1>(GetParam()) == "sqlite" ? 2000 : 10000;
#endif
        auto o = options(4);
        o.events_from_start = true;
        csp::task_queue q(std::move(o));
        std::atomic<int> runs{0};
        q.handle("n", [&](const json& p, const csp::context&) -> json {
            ++runs;
            const int i = p.get<int>();
            if (i % 7 == 0) throw std::runtime_error("seven");
            return i;
        });
        std::vector<std::uint8_t> finals(total + 1);
        std::atomic<int> finals_seen{0}, bad{0};
        csp::chan<csp::unit> all_final;
        task_group reader(mode());
        reader.go([&, ev = q.events()] {
            for (const csp::task_event& e : ev) {
                if (e.what != csp::task_event::kind::job || !csp::is_final(e.state)) continue;
                const bool expected = (e.state == job_state::succeeded && !e.result.empty()) ||
                                      (e.state == job_state::failed && e.error == "seven");
                if (e.id == 0 || e.id > static_cast<csp::task_id>(total) || !expected) {
                    ++bad;
                    continue;
                }
                if (++finals[e.id] == 1 && ++finals_seen == total) all_final.close();
            }
        });
        task_group clients(mode());
        clients.go_n(4, [&](int c) {
            for (int i = c; i < total; i += 4) q.submit("n", i);
        });
        clients.wait();
        const bool in_time = all_final.recv_for(patience).status == csp::chan_status::closed;
        q.shutdown();
        reader.wait();
        ASSERT_TRUE(in_time) << finals_seen.load() << " of " << total << " final events";
        EXPECT_EQ(bad.load(), 0);
        EXPECT_EQ(runs.load(), total);
        for (int id = 1; id <= total; ++id) EXPECT_EQ(finals[id], 1) << "task " << id;
        auto s = q.stats();
        EXPECT_EQ(s.succeeded + s.failed, static_cast<std::uint64_t>(total));
        EXPECT_EQ(s.failed, static_cast<std::uint64_t>((total + 6) / 7));
    });
}

}  // namespace
}  // namespace csp_test
