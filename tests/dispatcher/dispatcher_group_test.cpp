// csp::job_group: errgroup in dispatcher form. wait() returns once every job
// of the group is final, with the first error; cancel_on_error cancels the
// rest. Clients as goroutines and as plain threads.
#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

#include <dispatcher/job_group.hpp>

#include "dispatcher_test_util.hpp"

namespace csp_test {
namespace {

class DispatcherGroup : public SettingTest {};

std::string what_of(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return x.what();
    }
}

TEST_P(DispatcherGroup, WaitReturnsWhenAllAreDone) {
    run([] {
        dispatcher d(3);
        csp::job_group g(d);
        std::atomic<int> ran{0};
        std::vector<csp::job_handle<int>> hs;
        for (int i = 0; i < 50; ++i)
            hs.push_back(g.submit([&ran, i] {
                if (i % 7 == 0) csp::yield();
                ++ran;
                return i;
            }));
        EXPECT_EQ(g.wait(), nullptr);
        EXPECT_EQ(ran, 50);  // every one has run by the time wait returns
        for (auto& h : hs) EXPECT_TRUE(h.done());
        EXPECT_EQ(g.wait(), nullptr);  // again: nothing open, no error
    });
}

TEST_P(DispatcherGroup, FirstErrorIsReturnedAndOthersRunOn) {
    run([] {
        dispatcher d(2);
        csp::job_group g(d);
        gate second;
        auto a = g.submit([&] {
            throw std::runtime_error("first");
        });
        a.wait();
        auto b = g.submit([&] {
            second.wait();
            throw std::runtime_error("second");
        });
        auto ok = g.submit([] { return 1; });
        second.open();
        const std::exception_ptr e = g.wait();
        ASSERT_NE(e, nullptr);
        EXPECT_EQ(what_of(e), "first");
        EXPECT_EQ(b.status(), job_state::failed);  // not cancelled: no cancel_on_error
        EXPECT_EQ(ok.get(), 1);
    });
}

TEST_P(DispatcherGroup, CancelOnErrorCancelsTheRest) {
    run([] {
        dispatcher d(3);
        csp::job_group g(d, {.cancel_on_error = true});
        gate fail_now;
        csp::chan<csp::unit> started;
        std::atomic<int> late_runs{0};
        // Two running until cancelled, one that fails on cue, queued ones behind them.
        std::vector<csp::job_handle<void>> waiting;
        for (int i = 0; i < 2; ++i)
            waiting.push_back(g.submit([started](const csp::context& ctx) {
                started.send(csp::unit{});
                ctx.done().recv();
            }));
        for (int i = 0; i < 2; ++i) started.recv();
        auto failing = g.submit([&] {
            fail_now.wait();
            throw std::runtime_error("boom");
        });
        std::vector<csp::job_handle<void>> queued;
        for (int i = 0; i < 5; ++i) queued.push_back(g.submit([&late_runs] { ++late_runs; }));
        fail_now.open();
        const std::exception_ptr e = g.wait();
        ASSERT_NE(e, nullptr);
        EXPECT_EQ(what_of(e), "boom");
        EXPECT_EQ(failing.status(), job_state::failed);
        for (auto& h : waiting) EXPECT_EQ(h.status(), job_state::cancelled);
        for (auto& h : queued) EXPECT_EQ(h.status(), job_state::cancelled);
        EXPECT_EQ(late_runs, 0);
        // Submitted after the failure: cancelled without running.
        auto after = g.submit([&late_runs] { ++late_runs; });
        after.wait();
        EXPECT_EQ(after.status(), job_state::cancelled);
        EXPECT_EQ(late_runs, 0);
        EXPECT_EQ(what_of(g.wait()), "boom");  // still the first error
        // Jobs outside the group are untouched.
        EXPECT_EQ(d.submit([] { return 7; }).get(), 7);
    });
}

TEST_P(DispatcherGroup, TimeoutIsTheGroupsError) {
    run([] {
        dispatcher d(1);
        csp::job_group g(d);
        g.submit([](const csp::context& ctx) { ctx.done().recv(); }, {.timeout = 1ms});
        EXPECT_TRUE(throws_code(dispatcher_errc::job_timed_out, [&] { std::rethrow_exception(g.wait()); }));
    });
}

TEST_P(DispatcherGroup, ClientsOnEveryThreadSubmitIntoOneGroup) {
    run([this] {
        constexpr int clients_n = 4, per_client = 100;
        dispatcher d(4);
        csp::job_group g(d);
        std::atomic<int> ran{0};
        task_group clients(mode());
        clients.go_n(clients_n, [&](int) {
            for (int i = 0; i < per_client; ++i) g.submit([&ran] { ++ran; });
        });
        clients.wait();
        EXPECT_EQ(g.wait(), nullptr);
        EXPECT_EQ(ran, clients_n * per_client);
        // Several waiters at once, from goroutines or threads.
        gate hold;
        g.submit([&] { hold.wait(); });
        std::atomic<int> answered{0};
        task_group waiters(mode());
        waiters.go_n(3, [&](int) {
            if (g.wait() == nullptr) ++answered;
        });
        EXPECT_EQ(answered, 0);
        hold.open();
        waiters.wait();
        EXPECT_EQ(answered, 3);
    });
}

TEST_P(DispatcherGroup, GroupWaitInsideAJobDoesNotDeadlockOneWorker) {
    run([] {
        dispatcher d(1);
        auto outer = d.submit([&d] {
            csp::job_group inner(d);
            for (int i = 0; i < 3; ++i) inner.submit([] {});
            return inner.wait() == nullptr;
        });
        ASSERT_TRUE(outer.wait_for(patience)) << csp::goroutine_dump();
        EXPECT_TRUE(outer.get());
    });
}

TEST_P(DispatcherGroup, WaitAfterTheDispatcherStoppedKeepsTheError) {
    run([] {
        auto d = std::make_unique<dispatcher>(1);
        csp::job_group g(*d);
        g.submit([] { throw std::runtime_error("kept"); });
        d->shutdown();
        EXPECT_EQ(what_of(g.wait()), "kept");
        d.reset();
        EXPECT_EQ(what_of(g.wait()), "kept");
    });
}

}  // namespace

CSP_INSTANTIATE_SETTINGS(DispatcherGroup);

}  // namespace csp_test
