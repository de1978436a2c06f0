// The contract every csp::queue_backend keeps (dispatcher/queue_backend.hpp),
// as a reusable, value-parametrized GoogleTest suite. A backend's test file
// instantiates it with a factory:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, BackendContract,
//       ::testing::Values(backend_factory{"sqlite", open_sqlite, true}),
//       [](const auto& i) { return i.param.name; });
//
// Backends block (disk, network), so every call here is made from plain
// threads, never from a goroutine (contract 1). Waits are bounded: a claim
// that should find a task waits at most `patience`.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <dispatcher/queue_backend.hpp>

#include "../harness/stress.hpp"  // CSP_TEST_SANITIZED

namespace csp_test {

struct backend_factory {
    std::string name;
    /// Opens queue `store` (a fresh name per test; the same name again is
    /// the same queue: a restart, or a second process).
    std::function<std::unique_ptr<csp::queue_backend>(const std::string& store, const csp::backend_options&)> open;
    /// Whether the same store opened again keeps its tasks.
    bool durable = false;
    /// Removes what the store left (files, keys) at the end of a test; may be null.
    std::function<void(const std::string& store)> drop{};
};

/// gtest prints the parameter by its name.
inline void PrintTo(const backend_factory& f, std::ostream* os) { *os << f.name; }

namespace contract {

using namespace std::chrono_literals;
using csp::job_state;

inline constexpr auto patience = std::chrono::milliseconds(20000);

#ifdef CSP_TEST_SANITIZED
inline constexpr int concurrent_tasks = 400;
#else
inline constexpr int concurrent_tasks = 2000;
#endif

/// A store name no other test (or run) uses.
inline std::string fresh_store() {
    static std::atomic<int> n{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info ? info->name() : "t") + "_" + std::to_string(::getpid()) + "_" +
                       std::to_string(n++) + "_" +
                       std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000);
    std::replace(name.begin(), name.end(), '/', '_');
    return name;
}

inline csp::task_spec spec(std::string type, std::string payload = "{}") {
    csp::task_spec t;
    t.type = std::move(type);
    t.payload = std::move(payload);
    return t;
}

inline csp::task_outcome succeeded(std::string result = "null") {
    csp::task_outcome o;
    o.state = job_state::succeeded;
    o.result = std::move(result);
    return o;
}

inline csp::task_outcome failed(std::string error, std::optional<csp::wall_clock::time_point> retry_at = {}) {
    csp::task_outcome o;
    o.state = job_state::failed;
    o.error = std::move(error);
    o.retry_at = retry_at;
    return o;
}

/// Claims one task, waiting up to `patience`; fails the test if none came.
inline csp::claimed_task claim_one(csp::queue_backend& b) {
    auto got = b.claim(1, std::chrono::duration_cast<std::chrono::milliseconds>(patience));
    EXPECT_EQ(got.size(), 1u) << "no task claimed within the patience";
    return got.empty() ? csp::claimed_task{} : got.front();
}

inline csp::task_record record(csp::queue_backend& b, csp::task_id id) {
    auto r = b.find(id);
    EXPECT_TRUE(r.has_value()) << "task " << id << " not found";
    return r.value_or(csp::task_record{});
}

}  // namespace contract

class BackendContract : public ::testing::TestWithParam<backend_factory> {
protected:
    std::unique_ptr<csp::queue_backend> open(csp::backend_options o = {}) {
        if (store_.empty()) store_ = contract::fresh_store();
        return GetParam().open(store_, o);
    }
    static csp::backend_options short_leases(std::chrono::milliseconds visibility = std::chrono::milliseconds(150)) {
        csp::backend_options o;
        o.visibility_timeout = visibility;
        o.heartbeat_interval = visibility / 5;
        return o;
    }
    void TearDown() override {
        if (!store_.empty() && GetParam().drop) GetParam().drop(store_);
    }
    std::string store_;
};

using namespace contract;

TEST_P(BackendContract, EnqueueGivesDistinctIdsFromOneAndKeepsTheRecord) {
    auto b = open();
    csp::task_spec t = spec("resize", R"({"w":64,"name":"ü\u0000x"})");
    t.priority = csp::job_priority::high;
    t.max_attempts = 3;
    t.timeout = 1500ms;
    const auto before = csp::wall_clock::now() - 1s;
    auto r1 = b->enqueue(t);
    auto r2 = b->enqueue(spec("echo"));
    EXPECT_EQ(r1.id, 1u);
    EXPECT_EQ(r2.id, 2u);
    EXPECT_FALSE(r1.existed);
    csp::task_record r = record(*b, r1.id);
    EXPECT_EQ(r.id, r1.id);
    EXPECT_EQ(r.type, "resize");
    EXPECT_EQ(r.payload, t.payload);
    EXPECT_EQ(r.state, job_state::queued);
    EXPECT_EQ(r.priority, csp::job_priority::high);
    EXPECT_EQ(r.attempts, 0u);
    EXPECT_EQ(r.max_attempts, 3u);
    EXPECT_EQ(r.timeout, 1500ms);
    EXPECT_GE(r.submitted, before);
    EXPECT_FALSE(b->find(999).has_value());
}

TEST_P(BackendContract, ClaimDeliversRunningWithTheAttemptCounted) {
    auto b = open();
    csp::task_spec t = spec("echo", R"({"value":7})");
    t.max_attempts = 2;
    t.timeout = 250ms;
    auto id = b->enqueue(t).id;
    csp::claimed_task c = claim_one(*b);
    EXPECT_EQ(c.id, id);
    EXPECT_EQ(c.type, "echo");
    EXPECT_EQ(c.payload, R"({"value":7})");
    EXPECT_EQ(c.attempt, 1u);
    EXPECT_EQ(c.max_attempts, 2u);
    EXPECT_EQ(c.timeout, 250ms);
    EXPECT_FALSE(c.receipt.empty());
    csp::task_record r = record(*b, id);
    EXPECT_EQ(r.state, job_state::running);
    EXPECT_EQ(r.attempts, 1u);
    EXPECT_FALSE(r.owner.empty());
    EXPECT_NE(r.started, csp::wall_clock::time_point{});
    // Nothing else to claim: an empty answer at once with no wait.
    EXPECT_TRUE(b->claim(4, 0ms).empty());
}

TEST_P(BackendContract, ClaimTakesAtMostNInPriorityThenSubmissionOrder) {
    auto b = open();
    std::vector<csp::task_id> normal, high;
    for (int i = 0; i < 3; ++i) normal.push_back(b->enqueue(spec("n")).id);
    auto low = b->enqueue([] { auto t = spec("l"); t.priority = csp::job_priority::low; return t; }()).id;
    for (int i = 0; i < 2; ++i) {
        auto t = spec("h");
        t.priority = csp::job_priority::high;
        high.push_back(b->enqueue(t).id);
    }
    auto first = b->claim(3, 0ms);
    ASSERT_EQ(first.size(), 3u);
    EXPECT_EQ(first[0].id, high[0]);
    EXPECT_EQ(first[1].id, high[1]);
    EXPECT_EQ(first[2].id, normal[0]);
    auto rest = b->claim(10, 0ms);
    ASSERT_EQ(rest.size(), 3u);
    EXPECT_EQ(rest[0].id, normal[1]);
    EXPECT_EQ(rest[1].id, normal[2]);
    EXPECT_EQ(rest[2].id, low);
}

TEST_P(BackendContract, ClaimWaitsForATaskEnqueuedByAnotherThread) {
    auto b = open();
    std::vector<csp::claimed_task> got;
    std::thread claimer([&] { got = b->claim(2, std::chrono::duration_cast<std::chrono::milliseconds>(patience)); });
    std::this_thread::sleep_for(30ms);  // not synchronization: the claim may start waiting before or after
    auto id = b->enqueue(spec("late")).id;
    claimer.join();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].id, id);
}

TEST_P(BackendContract, InterruptEndsAWaitingClaim) {
    auto b = open();
    const auto t0 = std::chrono::steady_clock::now();
    std::thread claimer([&] { EXPECT_TRUE(b->claim(1, std::chrono::duration_cast<std::chrono::milliseconds>(patience)).empty()); });
    std::this_thread::sleep_for(30ms);  // interrupt() is sticky: before or during the wait, it ends it
    b->interrupt();
    claimer.join();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, patience / 2);
}

TEST_P(BackendContract, CompleteStoresTheOutcomeOnce) {
    auto b = open();
    auto ok = b->enqueue(spec("a")).id;
    auto bad = b->enqueue(spec("b")).id;
    auto cs = b->claim(2, 0ms);
    ASSERT_EQ(cs.size(), 2u);
    EXPECT_TRUE(b->complete(cs[0], succeeded(R"({"r":[1,2]})")));
    EXPECT_TRUE(b->complete(cs[1], failed("boom")));
    csp::task_record r = record(*b, ok);
    EXPECT_EQ(r.state, job_state::succeeded);
    EXPECT_EQ(r.result, R"({"r":[1,2]})");
    EXPECT_NE(r.finished, csp::wall_clock::time_point{});
    csp::task_record f = record(*b, bad);
    EXPECT_EQ(f.state, job_state::failed);
    EXPECT_EQ(f.error, "boom");
    // A second outcome for a delivery already final is refused.
    EXPECT_FALSE(b->complete(cs[0], failed("late")));
    EXPECT_EQ(record(*b, ok).state, job_state::succeeded);
}

// complete_many: several outcomes at once (a backend may store them in one
// transaction or round trip), answered in order, each as complete() would.
TEST_P(BackendContract, CompleteManyStoresEachOutcomeAndAnswersInOrder) {
    auto b = open();
    auto retried = spec("flaky");
    retried.max_attempts = 2;
    b->enqueue(spec("a"));
    b->enqueue(spec("b"));
    b->enqueue(retried);
    auto cs = b->claim(3, 0ms);
    ASSERT_EQ(cs.size(), 3u);
    csp::claimed_task stale = cs[1];
    stale.receipt += "-not-this-delivery";
    const auto retry_at = csp::wall_clock::now() + 50ms;
    const std::vector<std::pair<csp::claimed_task, csp::task_outcome>> batch = {
        {cs[0], succeeded("1")}, {stale, succeeded("stale")}, {cs[2], failed("again", retry_at)}};
    EXPECT_EQ(b->complete_many(batch), (std::vector<bool>{true, false, true}));
    EXPECT_EQ(record(*b, cs[0].id).state, job_state::succeeded);
    EXPECT_EQ(record(*b, cs[0].id).result, "1");
    EXPECT_EQ(record(*b, cs[1].id).state, job_state::running) << "a refused outcome changes nothing";
    EXPECT_EQ(record(*b, cs[2].id).state, job_state::retrying);
    EXPECT_TRUE(b->complete_many({}).empty());
    // The refused one is still its delivery's to complete; the retry comes back.
    EXPECT_EQ(b->complete_many({{cs[1], failed("x")}}), std::vector<bool>{true});
    auto again = claim_one(*b);
    EXPECT_EQ(again.id, cs[2].id);
    EXPECT_EQ(again.attempt, 2u);
    EXPECT_EQ(b->complete_many({{again, succeeded()}, {cs[0], failed("late")}}), (std::vector<bool>{true, false}));
    EXPECT_EQ(record(*b, cs[0].id).state, job_state::succeeded);
}

TEST_P(BackendContract, TimedOutAndCancelledOutcomesAreStored) {
    auto b = open();
    b->enqueue(spec("a"));
    b->enqueue(spec("b"));
    auto cs = b->claim(2, 0ms);
    ASSERT_EQ(cs.size(), 2u);
    csp::task_outcome t;
    t.state = job_state::timed_out;
    t.error = "timed out after 5 ms";
    csp::task_outcome c;
    c.state = job_state::cancelled;
    c.error = "cancelled";
    EXPECT_TRUE(b->complete(cs[0], t));
    EXPECT_TRUE(b->complete(cs[1], c));
    EXPECT_EQ(record(*b, cs[0].id).state, job_state::timed_out);
    EXPECT_EQ(record(*b, cs[0].id).error, "timed out after 5 ms");
    EXPECT_EQ(record(*b, cs[1].id).state, job_state::cancelled);
}

TEST_P(BackendContract, RetryAtMakesItRetryingThenClaimableWithTheNextAttempt) {
    auto b = open();
    auto t = spec("flaky");
    t.max_attempts = 3;
    auto id = b->enqueue(t).id;
    auto c1 = claim_one(*b);
    const auto retry_at = csp::wall_clock::now() + 100ms;
    EXPECT_TRUE(b->complete(c1, failed("first", retry_at)));
    csp::task_record r = record(*b, id);
    EXPECT_EQ(r.state, job_state::retrying);
    EXPECT_EQ(r.error, "first");
    // A claim that ended before retry_at began before it too: it must not see the task.
    auto early = b->claim(1, 0ms);
    if (csp::wall_clock::now() < retry_at) {
        EXPECT_TRUE(early.empty()) << "claimed before its retry time";
    }
    if (!early.empty()) GTEST_SKIP() << "this thread stalled past the retry time";
    auto c2 = claim_one(*b);
    EXPECT_EQ(c2.id, id);
    EXPECT_EQ(c2.attempt, 2u);
    EXPECT_FALSE(b->complete(c1, succeeded())) << "the first delivery's outcome came after the second claim";
    EXPECT_TRUE(b->complete(c2, succeeded("1")));
    EXPECT_EQ(record(*b, id).state, job_state::succeeded);
    EXPECT_EQ(record(*b, id).attempts, 2u);
}

TEST_P(BackendContract, ScheduledTasksWaitForTheirTime) {
    auto b = open();
    auto t = spec("later");
    t.not_before = csp::wall_clock::now() + 150ms;
    auto id = b->enqueue(t).id;
    EXPECT_EQ(record(*b, id).state, job_state::scheduled);
    auto early = b->claim(1, 0ms);
    if (csp::wall_clock::now() < t.not_before) {
        EXPECT_TRUE(early.empty()) << "claimed before its time";
    }
    if (!early.empty()) GTEST_SKIP() << "this thread stalled past the task's time";
    auto c = claim_one(*b);
    EXPECT_EQ(c.id, id);
    EXPECT_GE(csp::wall_clock::now(), t.not_before);
}

TEST_P(BackendContract, HeartbeatKeepsTheLeaseOfALiveDelivery) {
    auto o = short_leases(200ms);
    auto b = open(o);
    // Another consumer of the same queue (a second process) where the store
    // is shared; the same object otherwise.
    auto second = GetParam().durable ? open(o) : nullptr;
    csp::queue_backend& other = second ? *second : *b;
    b->enqueue(spec("long"));
    auto c = claim_one(*b);
    const auto t0 = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - t0 < 450ms) {  // over twice the visibility timeout
        const auto beat = std::chrono::steady_clock::now();
        EXPECT_TRUE(b->heartbeat({c}).empty());
        auto got = other.claim(1, 40ms);
        // The lease runs at least until beat + visibility. A claim that
        // ended before then must not see the task; one that ended later
        // (this thread stalled that long: a loaded machine) proves nothing.
        if (std::chrono::steady_clock::now() - beat >= o.visibility_timeout)
            GTEST_SKIP() << "stalled past the visibility timeout between a heartbeat and a claim";
        EXPECT_TRUE(got.empty()) << "a heartbeated task was taken back";
    }
    EXPECT_TRUE(b->complete(c, succeeded()));
}

TEST_P(BackendContract, AnExpiredLeaseIsTakenBackWithTheAttemptCountedAndTheStaleOutcomeRefused) {
    auto b = open(short_leases());
    auto t = spec("crashy");
    t.max_attempts = 3;
    auto id = b->enqueue(t).id;
    auto c1 = claim_one(*b);
    // No heartbeat: the claim below waits until the lease expires.
    auto c2 = claim_one(*b);
    EXPECT_EQ(c2.id, id);
    EXPECT_EQ(c2.attempt, 2u);
    EXPECT_NE(c1.receipt, c2.receipt);
    EXPECT_FALSE(b->complete(c1, succeeded("stale"))) << "contract 4: a lost delivery's outcome is refused";
    EXPECT_TRUE(b->heartbeat({c1}).empty());
    EXPECT_EQ(record(*b, id).state, job_state::running);
    EXPECT_TRUE(b->complete(c2, succeeded("fresh")));
    EXPECT_EQ(record(*b, id).result, "fresh");
}

TEST_P(BackendContract, AnExpiredLeaseWithoutAttemptsLeftFailsTheTask) {
    auto b = open(short_leases());
    auto id = b->enqueue(spec("once")).id;  // max_attempts 1
    auto c = claim_one(*b);
    EXPECT_TRUE(b->claim(1, 400ms).empty()) << "a task out of attempts was delivered again";
    csp::task_record r = record(*b, id);
    EXPECT_EQ(r.state, job_state::failed);
    EXPECT_NE(r.error.find("lease"), std::string::npos) << r.error;
    EXPECT_FALSE(b->complete(c, succeeded()));
}

TEST_P(BackendContract, MaxDeliveriesBoundsRedelivery) {
    auto o = short_leases(80ms);
    o.max_deliveries = 2;
    auto b = open(o);
    auto t = spec("killer");
    t.max_attempts = 10;
    auto id = b->enqueue(t).id;
    EXPECT_EQ(claim_one(*b).attempt, 1u);
    EXPECT_EQ(claim_one(*b).attempt, 2u);
    EXPECT_TRUE(b->claim(1, 300ms).empty()) << "delivered past max_deliveries";
    EXPECT_EQ(record(*b, id).state, job_state::failed);
}

TEST_P(BackendContract, CancelAnswersByStateAndAQueuedTaskIsNeverDelivered) {
    auto b = open();
    auto queued = b->enqueue(spec("q")).id;
    auto sched = b->enqueue([] { auto t = spec("s"); t.not_before = csp::wall_clock::now() + 1h; return t; }()).id;
    EXPECT_EQ(b->cancel(queued), csp::cancel_result::cancelled);
    EXPECT_EQ(b->cancel(sched), csp::cancel_result::cancelled);
    EXPECT_EQ(b->cancel(queued), csp::cancel_result::already_cancelled);
    EXPECT_EQ(record(*b, queued).state, job_state::cancelled);
    EXPECT_EQ(record(*b, sched).state, job_state::cancelled);
    EXPECT_TRUE(b->claim(4, 0ms).empty());
    EXPECT_FALSE(b->cancel(12345).has_value());

    auto run = b->enqueue(spec("r")).id;
    auto c = claim_one(*b);
    ASSERT_EQ(c.id, run);
    EXPECT_TRUE(b->heartbeat({c}).empty());
    EXPECT_EQ(b->cancel(run), csp::cancel_result::cancelling);
    EXPECT_EQ(b->cancel(run), csp::cancel_result::already_cancelled);
    EXPECT_EQ(b->heartbeat({c}), std::vector<csp::task_id>{run});
    csp::task_outcome o;
    o.state = job_state::cancelled;
    o.error = "cancelled";
    EXPECT_TRUE(b->complete(c, o));
    EXPECT_EQ(record(*b, run).state, job_state::cancelled);
    EXPECT_EQ(b->cancel(run), csp::cancel_result::already_cancelled);

    auto done = b->enqueue(spec("d")).id;
    EXPECT_TRUE(b->complete(claim_one(*b), succeeded()));
    EXPECT_EQ(b->cancel(done), csp::cancel_result::already_final);
}

TEST_P(BackendContract, ACancelRequestedTaskIsNotRetried) {
    auto b = open();
    auto t = spec("r");
    t.max_attempts = 5;
    auto id = b->enqueue(t).id;
    auto c = claim_one(*b);
    EXPECT_EQ(b->cancel(id), csp::cancel_result::cancelling);
    EXPECT_TRUE(b->complete(c, failed("stopped", csp::wall_clock::now())));
    EXPECT_EQ(record(*b, id).state, job_state::cancelled);
    EXPECT_TRUE(b->claim(1, 100ms).empty());
}

TEST_P(BackendContract, AUniqueKeyHoldsOneOpenTask) {
    auto b = open();
    auto t = spec("u");
    t.unique_key = "report:7";
    auto first = b->enqueue(t);
    auto again = b->enqueue(t);
    EXPECT_FALSE(first.existed);
    EXPECT_TRUE(again.existed);
    EXPECT_EQ(again.id, first.id);
    auto other = spec("u");
    other.unique_key = "report:8";
    EXPECT_FALSE(b->enqueue(other).existed);
    // Open while running too; free once final.
    auto c = claim_one(*b);
    ASSERT_EQ(c.id, first.id);
    EXPECT_EQ(b->enqueue(t).id, first.id);
    EXPECT_TRUE(b->complete(c, succeeded()));
    auto after = b->enqueue(t);
    EXPECT_FALSE(after.existed);
    EXPECT_NE(after.id, first.id);
    // A cancelled task frees its key as well.
    EXPECT_EQ(b->cancel(after.id), csp::cancel_result::cancelled);
    EXPECT_FALSE(b->enqueue(t).existed);
}

TEST_P(BackendContract, ListIsNewestFirstFilteredAndLimited) {
    auto b = open();
    std::vector<csp::task_id> ids;
    for (int i = 0; i < 5; ++i) ids.push_back(b->enqueue(spec("t" + std::to_string(i))).id);
    auto c = b->claim(2, 0ms);
    ASSERT_EQ(c.size(), 2u);
    auto all = b->list(100);
    ASSERT_EQ(all.size(), 5u);
    for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(all[i].id, ids[4 - i]);
    auto two = b->list(2);
    ASSERT_EQ(two.size(), 2u);
    EXPECT_EQ(two[0].id, ids[4]);
    auto running = b->list(100, job_state::running);
    ASSERT_EQ(running.size(), 2u);
    EXPECT_EQ(running[0].id, ids[1]);
    EXPECT_EQ(running[1].id, ids[0]);
    EXPECT_EQ(b->list(100, job_state::queued).size(), 3u);
    EXPECT_TRUE(b->list(100, job_state::timed_out).empty());
}

TEST_P(BackendContract, StatsCountEveryState) {
    auto b = open();
    for (int i = 0; i < 6; ++i) b->enqueue(spec("s"));
    b->enqueue([] { auto t = spec("later"); t.not_before = csp::wall_clock::now() + 1h; return t; }());
    auto c = b->claim(4, 0ms);
    ASSERT_EQ(c.size(), 4u);
    EXPECT_TRUE(b->complete(c[0], succeeded()));
    EXPECT_TRUE(b->complete(c[1], failed("x")));
    EXPECT_EQ(b->cancel(c[2].id), csp::cancel_result::cancelling);
    EXPECT_EQ(b->cancel(6), csp::cancel_result::cancelled);
    csp::queue_stats s = b->stats();
    EXPECT_EQ(s.queued, 1u);
    EXPECT_EQ(s.scheduled, 1u);
    EXPECT_EQ(s.running, 2u);
    EXPECT_EQ(s.succeeded, 1u);
    EXPECT_EQ(s.failed, 1u);
    EXPECT_EQ(s.cancelled, 1u);
    EXPECT_EQ(s.retrying, 0u);
    EXPECT_EQ(s.timed_out, 0u);
    EXPECT_EQ(s.dead_letters, 1u);
}

// Contract 1 and 3 under load: claimers on several threads (each with its
// own backend object when the store is shared, as processes would) and
// enqueuers at the same time; every task is delivered exactly once.
TEST_P(BackendContract, ConcurrentClaimersDeliverEveryTaskExactlyOnce) {
    const int claimers_n = 4, enqueuers_n = 2;
    const int total = concurrent_tasks;
    auto shared = open();
    std::vector<std::unique_ptr<csp::queue_backend>> own;
    for (int i = 0; i < claimers_n; ++i) own.push_back(GetParam().durable ? open() : nullptr);
    auto backend_of = [&](int i) -> csp::queue_backend& { return own[i] ? *own[i] : *shared; };

    std::mutex mu;
    std::vector<int> delivered(total + 1);
    std::set<csp::task_id> enqueued;
    std::atomic<int> done{0};
    std::vector<std::thread> threads;
    for (int e = 0; e < enqueuers_n; ++e)
        threads.emplace_back([&, e] {
            for (int i = e; i < total; i += enqueuers_n) {
                auto id = shared->enqueue(spec("n", std::to_string(i))).id;
                std::lock_guard lk(mu);
                EXPECT_TRUE(enqueued.insert(id).second) << "id " << id << " handed out twice";
            }
        });
    const auto deadline = std::chrono::steady_clock::now() + patience;
    for (int c = 0; c < claimers_n; ++c)
        threads.emplace_back([&, c] {
            csp::queue_backend& b = backend_of(c);
            while (done.load() < total && std::chrono::steady_clock::now() < deadline) {
                for (const csp::claimed_task& t : b.claim(1 + c % 3, 20ms)) {
                    const int i = std::stoi(t.payload);
                    {
                        std::lock_guard lk(mu);
                        ++delivered.at(i);
                    }
                    EXPECT_TRUE(b.complete(t, succeeded(t.payload)));
                    ++done;
                }
            }
        });
    for (auto& t : threads) t.join();
    ASSERT_EQ(done.load(), total) << "not every task was delivered within the patience";
    for (int i = 0; i < total; ++i) EXPECT_EQ(delivered[i], 1) << "task with payload " << i;
    csp::queue_stats s = shared->stats();
    EXPECT_EQ(s.succeeded, static_cast<std::uint64_t>(total));
    EXPECT_EQ(s.queued + s.running, 0u);
}

// Durable stores: a task outlives the backend object (a restart), and ids
// keep growing across it.
TEST_P(BackendContract, ADurableStoreKeepsItsTasksAcrossAReopen) {
    if (!GetParam().durable) GTEST_SKIP() << GetParam().name << " is not durable";
    csp::task_id first = 0, running = 0;
    {
        auto b = open(short_leases());
        auto t = spec("kept", R"({"k":1})");
        t.max_attempts = 3;
        first = b->enqueue(t).id;
        running = b->enqueue(spec("was running")).id;
        auto c = b->claim(1, 0ms);
        ASSERT_EQ(c.size(), 1u);
        ASSERT_EQ(c[0].id, first);
    }
    auto b = open(short_leases());
    EXPECT_EQ(record(*b, first).payload, R"({"k":1})");
    EXPECT_GT(b->enqueue(spec("new")).id, running);
    // The delivery of the closed backend lapses and is delivered again.
    std::set<csp::task_id> seen;
    for (int i = 0; i < 3; ++i) {
        auto c = claim_one(*b);
        seen.insert(c.id);
        if (c.id == first) {
            EXPECT_EQ(c.attempt, 2u);
        }
        EXPECT_TRUE(b->complete(c, succeeded()));
    }
    EXPECT_EQ(seen.size(), 3u);
}

}  // namespace csp_test
