// The Redis Streams backend on a private redis-server: what each call does
// to the queue, leases across two backends (two processes' worth of
// connections and consumers), malformed data planted in Redis, and Redis
// going away and coming back. Every call runs on a plain thread (contract 1).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <set>
#include <thread>

#include "backend_contract.hpp"
#include "redis_test_util.hpp"

namespace {

using namespace std::chrono_literals;
using csp::job_state;
using namespace csp_test;

std::unique_ptr<csp::queue_backend> open_store(const std::string& store, const csp::backend_options& o) {
    return open_redis(shared_redis(), store, o);
}

// Deletes every key of queue `store`.
void drop_store(const std::string& store) {
    redisContext* c = shared_redis().connect();
    if (!c) return;
    std::string cursor = "0";
    do {
        auto* r = static_cast<redisReply*>(
            redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor.c_str(), key(store, "*").c_str()));
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            if (r) freeReplyObject(r);
            break;
        }
        cursor = std::string(r->element[0]->str, r->element[0]->len);
        for (size_t i = 0; i < r->element[1]->elements; ++i) {
            auto* d = static_cast<redisReply*>(redisCommand(c, "DEL %b", r->element[1]->element[i]->str,
                                                            r->element[1]->element[i]->len));
            if (d) freeReplyObject(d);
        }
        freeReplyObject(r);
    } while (cursor != "0");
    redisFree(c);
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendContract,
                         ::testing::Values(backend_factory{"redis", open_store, true, drop_store}),
                         [](const ::testing::TestParamInfo<backend_factory>& i) { return i.param.name; });

constexpr auto patience = 10s;

csp::task_outcome failed(std::string why, job_state s = job_state::failed) {
    csp::task_outcome o;
    o.state = s;
    o.error = std::move(why);
    return o;
}

// How many entries of queue q's normal stream are delivered and not yet
// acknowledged (as text).
std::string pending_entries(const std::string& q) {
    return raw(shared_redis(), {"XPENDING", key(q, "s:normal"), "workers", "-", "+", "100000"});
}

// Claims until one task comes or patience runs out.
std::vector<csp::claimed_task> claim_some(csp::queue_backend& b, std::size_t n = 1) {
    auto deadline = std::chrono::steady_clock::now() + patience;
    while (std::chrono::steady_clock::now() < deadline) {
        auto got = b.claim(n, 200ms);
        if (!got.empty()) return got;
    }
    return {};
}

TEST(RedisBackend, EnqueueClaimCompleteAndFind) {
    auto q = fresh_queue();
    auto b = open_redis(shared_redis(), q);
    auto r1 = b->enqueue(named("echo", R"({"n":1})"));
    auto r2 = b->enqueue(named("echo", R"({"n":2})"));
    EXPECT_EQ(r1.id, 1u);  // contract 2: from 1 up
    EXPECT_EQ(r2.id, 2u);
    EXPECT_FALSE(r1.existed);

    auto got = b->claim(5, 0ms);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].id, 1u);  // one priority: submission order
    EXPECT_EQ(got[0].type, "echo");
    EXPECT_EQ(got[0].payload, R"({"n":1})");
    EXPECT_EQ(got[0].attempt, 1u);
    auto running = b->find(1);
    ASSERT_TRUE(running);
    EXPECT_EQ(running->state, job_state::running);
    EXPECT_FALSE(running->owner.empty());

    EXPECT_TRUE(b->complete(got[0], ok(R"({"r":1})")));
    // The same outcome again (a retry after a lost reply) changes nothing.
    EXPECT_TRUE(b->complete(got[0], ok(R"({"r":1})")));
    auto done = b->find(1);
    ASSERT_TRUE(done);
    EXPECT_EQ(done->state, job_state::succeeded);
    EXPECT_EQ(done->result, R"({"r":1})");
    EXPECT_EQ(done->attempts, 1u);
    EXPECT_FALSE(b->find(99));

    auto s = b->stats();
    EXPECT_EQ(s.succeeded, 1u);
    EXPECT_EQ(s.running, 1u);
    EXPECT_EQ(s.queued, 0u);
    // Completing acknowledges the entry (trimming drops it later).
    EXPECT_EQ(pending_entries(q), "1");
    EXPECT_TRUE(b->complete(got[1], ok()));
    EXPECT_EQ(pending_entries(q), "0");
}

// Acknowledged entries are trimmed away, but never one still pending (a
// reclaim needs it) or not yet read.
TEST(RedisBackend, TrimmingKeepsPendingAndUnreadEntries) {
    auto q = fresh_queue();
    auto a = open_redis(shared_redis(), q, short_lease());
    auto b = open_redis(shared_redis(), q, short_lease());
    const std::size_t n = 1500, done_first = 200, held = 100, done_then = 1000;
    auto t = named("t");
    t.max_attempts = 2;  // a reclaimed one runs again
    for (std::size_t i = 0; i < n; ++i) a->enqueue(t);
    auto claim_exactly = [](csp::queue_backend& x, std::size_t k) {
        std::vector<csp::claimed_task> got;
        while (got.size() < k) {
            auto more = x.claim(k - got.size(), 0ms);
            if (more.empty()) break;
            got.insert(got.end(), more.begin(), more.end());
        }
        return got;
    };
    std::set<csp::task_id> ran;  // by b, which completes everything it claims
    auto run_all = [&](const std::vector<csp::claimed_task>& got) {
        for (auto& t : got) {
            EXPECT_TRUE(ran.insert(t.id).second) << "task " << t.id << " delivered twice";
            EXPECT_TRUE(b->complete(t, ok()));
        }
    };
    run_all(claim_exactly(*b, done_first));
    auto kept = claim_exactly(*a, held);  // a "dies" holding these: b reclaims them below
    ASSERT_EQ(kept.size(), held);
    auto then = claim_exactly(*b, done_then);
    ASSERT_EQ(then.size(), done_then);
    // One by one: 1,200 acknowledgements in all pass the trim threshold
    // (1,000) while the held entries are the oldest pending ones. A stream
    // gone (keys flushed; the next claim makes it again) is skipped by the
    // trim: it must not fail the completions of the call that trims. (Put
    // back before the next claim: a claim script that meets a stream gone
    // fails part-way, after its reclaims took effect -- keys flushed under
    // a running queue is not what this test is about.)
    ASSERT_EQ(raw(shared_redis(), {"DEL", key(q, "s:low")}), "1");
    run_all(then);
    ASSERT_EQ(raw(shared_redis(), {"XGROUP", "CREATE", key(q, "s:low"), "workers", "0", "MKSTREAM"}), "OK");
    auto left = std::stoul(raw(shared_redis(), {"XLEN", key(q, "s:normal")}));
    EXPECT_LE(left, n - done_first) << "the entries acknowledged first were not trimmed";
    EXPECT_GE(left, n - done_first - done_then) << "an entry still pending or unread was trimmed";
    // Everything else is still there: the unread ones, and the held ones
    // once their lease expired.
    auto deadline = std::chrono::steady_clock::now() + patience;
    while (ran.size() < n && std::chrono::steady_clock::now() < deadline) run_all(b->claim(64, 100ms));
    EXPECT_EQ(ran.size(), n);
    for (auto& t : kept) EXPECT_TRUE(ran.count(t.id)) << "held task " << t.id << " was not reclaimed";
    EXPECT_EQ(b->stats().succeeded, n);
    EXPECT_EQ(pending_entries(q), "0");
}

// Type, timeout and payload share one hash field: any type text, colons
// and digits included, comes back as it went in.
TEST(RedisBackend, SpecFieldKeepsTypeTimeoutAndPayload) {
    auto b = open_redis(shared_redis(), fresh_queue());
    auto t = named("12:resize 3:x", R"({"a":"1:2 3"})");
    t.timeout = 1500ms;
    auto id = b->enqueue(t).id;
    auto got = claim_some(*b);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].type, t.type);
    EXPECT_EQ(got[0].payload, t.payload);
    EXPECT_EQ(got[0].timeout, 1500ms);
    auto r = b->find(id);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->type, t.type);
    EXPECT_EQ(r->payload, t.payload);
    EXPECT_EQ(r->timeout, 1500ms);
}

// Concurrent completes share script calls (a group commit): each still
// gets its own answer.
TEST(RedisBackend, ConcurrentCompletesEachGetTheirAnswer) {
    auto b = open_redis(shared_redis(), fresh_queue());
    const int n = 400;
    for (int i = 0; i < n; ++i) b->enqueue(named("c"));
    std::vector<csp::claimed_task> got;
    while (got.size() < static_cast<std::size_t>(n)) {
        auto more = b->claim(64, 0ms);
        ASSERT_FALSE(more.empty());
        got.insert(got.end(), more.begin(), more.end());
    }
    // Every fourth one goes twice with different outcomes: the second is refused.
    std::atomic<int> stored{0}, refused{0};
    std::vector<std::thread> ts;
    for (int w = 0; w < 16; ++w)
        ts.emplace_back([&, w] {
            for (int i = w; i < n; i += 16) {
                stored += b->complete(got[i], ok("\"" + std::to_string(got[i].id) + "\""));
                if (i % 4 == 0) refused += !b->complete(got[i], failed("late"));
            }
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(stored.load(), n);
    EXPECT_EQ(refused.load(), n / 4);
    EXPECT_EQ(b->stats().succeeded, static_cast<std::uint64_t>(n));
    for (int i = 0; i < n; i += 37) EXPECT_EQ(b->find(got[i].id)->result, "\"" + std::to_string(got[i].id) + "\"");
}

// complete_many stores a batch larger than one script call (256) through
// the same group commit as concurrent complete() calls: answers in order,
// a refused one (stale receipt) among them, every result stored.
TEST(RedisBackend, CompleteManyAnswersInOrderAcrossScriptCalls) {
    auto b = open_redis(shared_redis(), fresh_queue());
    const std::size_t n = 600;
    for (std::size_t i = 0; i < n; ++i) b->enqueue(named("m"));
    std::vector<csp::claimed_task> got;
    while (got.size() < n) {
        auto more = b->claim(128, 0ms);
        ASSERT_FALSE(more.empty());
        got.insert(got.end(), more.begin(), more.end());
    }
    std::vector<std::pair<csp::claimed_task, csp::task_outcome>> batch;
    for (std::size_t i = 0; i < n; ++i) {
        csp::claimed_task t = got[i];
        if (i % 50 == 7) t.receipt = "0-1";  // not this delivery's: refused
        batch.emplace_back(t, ok("\"" + std::to_string(t.id) + "\""));
    }
    // A complete() racing the batch shares its calls and gets its own answer.
    auto extra = std::async(std::launch::async, [&] { return b->complete(got[1], ok("\"x\"")); });
    auto accepted = b->complete_many(batch);
    EXPECT_TRUE(extra.get());
    ASSERT_EQ(accepted.size(), n);
    std::size_t refused = 0;
    for (std::size_t i = 0; i < n; ++i) {
        EXPECT_EQ(accepted[i], i % 50 != 7) << "answer " << i;
        refused += !accepted[i];
    }
    EXPECT_EQ(refused, n / 50);
    EXPECT_EQ(b->stats().succeeded, n - refused);
    for (std::size_t i = 0; i < n; i += 41)
        if (i % 50 != 7 && i != 1) {
            EXPECT_EQ(b->find(got[i].id)->result, "\"" + std::to_string(got[i].id) + "\"");
        }
    EXPECT_TRUE(b->complete_many({}).empty());
}

TEST(RedisBackend, HighPriorityFirst) {
    auto b = open_redis(shared_redis(), fresh_queue());
    auto low = named("t");
    low.priority = csp::job_priority::low;
    auto high = named("t");
    high.priority = csp::job_priority::high;
    auto l = b->enqueue(low).id;
    auto n = b->enqueue(named("t")).id;
    auto h = b->enqueue(high).id;
    auto got = b->claim(3, 0ms);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].id, h);
    EXPECT_EQ(got[1].id, n);
    EXPECT_EQ(got[2].id, l);
}

TEST(RedisBackend, ScheduledWaitsForItsTime) {
    auto b = open_redis(shared_redis(), fresh_queue());
    auto t = named("later");
    t.not_before = csp::wall_clock::now() + 300ms;
    auto id = b->enqueue(t).id;
    EXPECT_EQ(b->find(id)->state, job_state::scheduled);
    EXPECT_TRUE(b->claim(1, 0ms).empty());
    // A blocking claim wakes for it when it is due, not at the end of its wait.
    auto start = std::chrono::steady_clock::now();
    auto got = b->claim(1, 5s);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].id, id);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
}

TEST(RedisBackend, RetryThenDeadLetter) {
    auto b = open_redis(shared_redis(), fresh_queue());
    auto t = named("flaky");
    t.max_attempts = 2;
    auto id = b->enqueue(t).id;
    auto first = b->claim(1, 0ms);
    ASSERT_EQ(first.size(), 1u);
    auto again = failed("boom 1");
    again.retry_at = csp::wall_clock::now() + 100ms;
    ASSERT_TRUE(b->complete(first[0], again));
    auto r = b->find(id);
    EXPECT_EQ(r->state, job_state::retrying);
    EXPECT_EQ(r->error, "boom 1");
    EXPECT_EQ(b->stats().retrying, 1u);

    auto second = claim_some(*b);
    ASSERT_EQ(second.size(), 1u);
    EXPECT_EQ(second[0].attempt, 2u);
    ASSERT_TRUE(b->complete(second[0], failed("boom 2")));
    r = b->find(id);
    EXPECT_EQ(r->state, job_state::failed);
    EXPECT_EQ(r->error, "boom 2");
    EXPECT_EQ(r->attempts, 2u);
    auto s = b->stats();
    EXPECT_EQ(s.failed, 1u);
    EXPECT_EQ(s.dead_letters, 1u);
    EXPECT_EQ(s.retrying, 0u);
}

TEST(RedisBackend, CancelQueuedScheduledRunningFinal) {
    auto b = open_redis(shared_redis(), fresh_queue());
    std::promise<csp::task_id> heard;
    std::atomic<bool> once{false};
    b->set_cancel_listener([&](csp::task_id id) {
        if (!once.exchange(true)) heard.set_value(id);
    });
    auto queued = b->enqueue(named("q")).id;
    auto later = named("s");
    later.not_before = csp::wall_clock::now() + 1h;
    auto scheduled = b->enqueue(later).id;
    auto running = b->enqueue(named("r")).id;

    EXPECT_EQ(b->cancel(queued), csp::cancel_result::cancelled);
    EXPECT_EQ(b->cancel(queued), csp::cancel_result::already_cancelled);
    EXPECT_EQ(b->cancel(scheduled), csp::cancel_result::cancelled);
    auto got = b->claim(5, 0ms);
    ASSERT_EQ(got.size(), 1u);  // the cancelled ones are not delivered
    EXPECT_EQ(got[0].id, running);

    EXPECT_EQ(b->cancel(running), csp::cancel_result::cancelling);
    EXPECT_EQ(b->cancel(running), csp::cancel_result::already_cancelled);
    auto f = heard.get_future();
    ASSERT_EQ(f.wait_for(patience), std::future_status::ready) << "the cancel listener was never called";
    EXPECT_EQ(f.get(), running);
    EXPECT_EQ(b->heartbeat(got), std::vector<csp::task_id>{running});
    EXPECT_TRUE(b->complete(got[0], failed("cancelled", job_state::cancelled)));
    EXPECT_EQ(b->cancel(running), csp::cancel_result::already_cancelled);
    EXPECT_FALSE(b->cancel(1234));

    auto d = b->enqueue(named("d")).id;
    auto dd = b->claim(1, 0ms);
    ASSERT_EQ(dd.size(), 1u);
    ASSERT_TRUE(b->complete(dd[0], ok()));
    EXPECT_EQ(b->cancel(d), csp::cancel_result::already_final);
    auto s = b->stats();
    EXPECT_EQ(s.cancelled, 3u);
    EXPECT_EQ(s.succeeded, 1u);
    EXPECT_EQ(s.dead_letters, 0u);
}

TEST(RedisBackend, UniqueKeyWhileOpen) {
    auto b = open_redis(shared_redis(), fresh_queue());
    auto t = named("u");
    t.unique_key = "k1";
    auto a = b->enqueue(t);
    auto again = b->enqueue(t);
    EXPECT_TRUE(again.existed);
    EXPECT_EQ(again.id, a.id);
    auto got = b->claim(1, 0ms);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_TRUE(b->enqueue(t).existed);  // running is open too
    ASSERT_TRUE(b->complete(got[0], ok()));
    auto fresh = b->enqueue(t);  // final: the key is free again
    EXPECT_FALSE(fresh.existed);
    EXPECT_NE(fresh.id, a.id);
}

TEST(RedisBackend, ListNewestFirstAndByState) {
    auto b = open_redis(shared_redis(), fresh_queue());
    for (int i = 0; i < 5; ++i) b->enqueue(named("l", "{\"i\":" + std::to_string(i) + "}"));
    auto got = b->claim(2, 0ms);
    ASSERT_EQ(got.size(), 2u);
    auto all = b->list(10);
    ASSERT_EQ(all.size(), 5u);
    EXPECT_EQ(all[0].id, 5u);
    EXPECT_EQ(all[4].id, 1u);
    EXPECT_EQ(all[4].payload, R"({"i":0})");
    auto running = b->list(10, job_state::running);
    ASSERT_EQ(running.size(), 2u);
    EXPECT_EQ(running[0].id, 2u);
    EXPECT_EQ(b->list(2, job_state::queued).size(), 2u);
}

// Two backends are two consumers (two processes): a delivery whose lease
// expired goes to the other, and the first one's late outcome is refused.
TEST(RedisBackend, ExpiredLeaseIsReclaimedAndTheLateOutcomeRefused) {
    auto q = fresh_queue();
    auto a = open_redis(shared_redis(), q, short_lease());
    auto b = open_redis(shared_redis(), q, short_lease());
    auto t = named("slow");
    t.max_attempts = 3;
    auto id = a->enqueue(t).id;
    auto mine = a->claim(1, 0ms);
    ASSERT_EQ(mine.size(), 1u);
    auto theirs = claim_some(*b);  // no heartbeat from a: after 300 ms it is b's
    ASSERT_EQ(theirs.size(), 1u);
    EXPECT_EQ(theirs[0].id, id);
    EXPECT_EQ(theirs[0].attempt, 2u);  // the lost delivery counts
    EXPECT_FALSE(a->complete(mine[0], ok("\"a\"")));
    EXPECT_TRUE(a->heartbeat(mine).empty());
    EXPECT_TRUE(b->complete(theirs[0], ok("\"b\"")));
    EXPECT_EQ(b->find(id)->result, "\"b\"");
    EXPECT_EQ(b->stats().succeeded, 1u);
}

TEST(RedisBackend, HeartbeatKeepsATaskPastTheVisibilityTimeout) {
    auto q = fresh_queue();
    auto a = open_redis(shared_redis(), q, short_lease());
    auto b = open_redis(shared_redis(), q, short_lease());
    auto id = a->enqueue(named("long")).id;
    auto mine = a->claim(1, 0ms);
    ASSERT_EQ(mine.size(), 1u);
    std::atomic<bool> stop{false};
    std::thread beat([&] {
        while (!stop) {
            a->heartbeat(mine);
            std::this_thread::sleep_for(50ms);  // the heartbeat interval
        }
    });
    // Three visibility timeouts: b must never get it.
    auto end = std::chrono::steady_clock::now() + 1s;
    std::size_t stolen = 0;
    while (std::chrono::steady_clock::now() < end) stolen += b->claim(1, 100ms).size();
    stop = true;
    beat.join();
    EXPECT_EQ(stolen, 0u);
    EXPECT_TRUE(a->complete(mine[0], ok()));
    EXPECT_EQ(a->find(id)->attempts, 1u);
}

TEST(RedisBackend, OutOfAttemptsAfterALostLeaseFails) {
    auto q = fresh_queue();
    auto a = open_redis(shared_redis(), q, short_lease());
    auto b = open_redis(shared_redis(), q, short_lease());
    auto id = a->enqueue(named("dies")).id;  // max_attempts 1
    ASSERT_EQ(a->claim(1, 0ms).size(), 1u);
    // b reclaims it but may not run it: the last attempt is spent.
    auto deadline = std::chrono::steady_clock::now() + patience;
    while (a->find(id)->state == job_state::running && std::chrono::steady_clock::now() < deadline)
        EXPECT_TRUE(b->claim(1, 100ms).empty());
    auto r = b->find(id);
    EXPECT_EQ(r->state, job_state::failed);
    EXPECT_NE(r->error.find("lease expired"), std::string::npos) << r->error;
    EXPECT_EQ(b->stats().dead_letters, 1u);
}

TEST(RedisBackend, InterruptEndsABlockedClaim) {
    auto b = open_redis(shared_redis(), fresh_queue());
    auto waiting = std::async(std::launch::async, [&] { return b->claim(1, 60s); });
    // Keep interrupting until the claim returns: an interrupt may come
    // before it blocks (then it ends the next wait; the flag is sticky).
    b->interrupt();
    ASSERT_EQ(waiting.wait_for(patience), std::future_status::ready);
    EXPECT_TRUE(waiting.get().empty());
    // A task after an interrupt is claimed as usual.
    b->enqueue(named("x"));
    EXPECT_EQ(claim_some(*b).size(), 1u);
}

// Contract 6: damage planted in Redis fails that task with a clear error;
// the other tasks go on.
TEST(RedisBackend, CorruptedDataFailsOnlyThatTask) {
    auto q = fresh_queue();
    auto& r = shared_redis();
    auto b = open_redis(r, q);
    auto bad_payload = b->enqueue(named("a", "{\"ok\":1}")).id;
    auto bad_attempts = b->enqueue(named("b")).id;
    auto no_record = b->enqueue(named("c")).id;
    auto bad_spec = b->enqueue(named("e")).id;
    auto good = b->enqueue(named("d")).id;
    // The spec field: "<timeout ms> <type length>:<type><payload>" (record_codec.hpp).
    raw(r, {"HSET", key(q, "t:" + std::to_string(bad_payload)), "spec", "0 1:a{\"ok\":"});
    raw(r, {"HSET", key(q, "t:" + std::to_string(bad_spec)), "spec", "0 99:e{}"});
    raw(r, {"HSET", key(q, "t:" + std::to_string(bad_attempts)), "attempts", "many"});
    raw(r, {"DEL", key(q, "t:" + std::to_string(no_record))});
    raw(r, {"XADD", key(q, "s:normal"), "*", "junk", "1"});  // names no task
    auto got = b->claim(10, 0ms);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].id, good);
    auto p = b->find(bad_payload);
    EXPECT_EQ(p->state, job_state::failed);
    EXPECT_NE(p->error.find("payload is not JSON"), std::string::npos) << p->error;
    auto e = b->find(bad_spec);
    EXPECT_EQ(e->state, job_state::failed);
    EXPECT_NE(e->error.find("malformed spec"), std::string::npos) << e->error;
    auto a = b->find(bad_attempts);
    EXPECT_EQ(a->state, job_state::failed);
    EXPECT_NE(a->error.find("bad attempts"), std::string::npos) << a->error;
    auto m = b->find(no_record);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->state, job_state::failed);
    EXPECT_NE(m->error.find("missing"), std::string::npos) << m->error;
    EXPECT_EQ(pending_entries(q), "1");  // only the good one's entry is left to acknowledge
    raw(r, {"HSET", key(q, "t:" + std::to_string(good)), "state", "exploded"});
    EXPECT_EQ(b->find(good)->state, job_state::failed);  // an unknown state reads as failed, with why
    EXPECT_NE(b->find(good)->error.find("unknown state"), std::string::npos);
}

// The scripts are a Functions library: a server that lost it (restarted
// without persistence; here FUNCTION FLUSH) gets it again on the next call.
TEST(RedisBackend, AServerThatLostTheScriptsGetsThemAgain) {
    auto b = open_redis(shared_redis(), fresh_queue());
    auto id = b->enqueue(named("x")).id;
    ASSERT_EQ(raw(shared_redis(), {"FUNCTION", "FLUSH"}), "OK");
    auto got = claim_some(*b);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].id, id);
    ASSERT_EQ(raw(shared_redis(), {"FUNCTION", "FLUSH"}), "OK");
    EXPECT_TRUE(b->complete(got[0], ok()));
    EXPECT_EQ(b->find(id)->state, job_state::succeeded);
}

// Redis away: calls fail with an error naming the server; once it is back
// they work again, and what was accepted before is still there.
TEST(RedisBackend, ServerAwayThenBack) {
    redis_server r;
    auto b = open_redis(r, "away");
    auto id = b->enqueue(named("before")).id;
    r.kill();
    try {
        b->enqueue(named("during"));
        ADD_FAILURE() << "enqueue succeeded with Redis down";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("redis at 127.0.0.1:" + std::to_string(r.port())), std::string::npos)
            << e.what();
    }
    EXPECT_THROW(b->claim(1, 0ms), std::runtime_error);
    r.start();
    // Reconnecting waits out its backoff (at most 1 s): retry until then.
    std::optional<csp::task_record> back;
    auto deadline = std::chrono::steady_clock::now() + patience;
    while (!back && std::chrono::steady_clock::now() < deadline) {
        try {
            back = b->find(id);
            if (!back) break;
        } catch (const std::runtime_error&) {
            std::this_thread::sleep_for(20ms);
        }
    }
    ASSERT_TRUE(back) << "the task accepted before the crash is gone";
    EXPECT_EQ(back->state, job_state::queued);
    auto got = claim_some(*b);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].id, id);
    EXPECT_TRUE(b->complete(got[0], ok()));
}

TEST(RedisBackend, OpenBackendUrl) {
    auto b = csp::open_backend("redis://127.0.0.1:" + std::to_string(shared_redis().port()) + "/" + fresh_queue());
    EXPECT_EQ(b->enqueue(named("u")).id, 1u);
    // Nothing listens on a port just freed: a clear error, no hang.
    redis_server gone;
    int port = gone.port();
    gone.kill();
    EXPECT_THROW(csp::make_redis_backend("127.0.0.1", port, "q"), std::runtime_error);
}

}  // namespace
