// A send that does not happen leaves the caller's value where it was; a send
// that happens moves it, never copies it. For chan::try_send, select's
// send cases (losing to another case, to a timeout, to default, to a closed
// channel) and selector's send cases.
#include "harness/harness.hpp"

#include <chan/selector.hpp>

#include <functional>
#include <memory>

namespace {

using namespace csp_test;
using csp::case_default;
using csp::case_recv;
using csp::case_send;
using csp::chan;
using csp::closed_channel_error;
using csp::selector;
using box = std::unique_ptr<int>;

class SendValue : public SettingTest {};
CSP_INSTANTIATE_SETTINGS(SendValue);

/// A channel a send cannot proceed on: buffer full, nobody receiving.
template <class T>
chan<T> full_chan(T filler) {
    chan<T> c(1);
    c.send(std::move(filler));
    return c;
}

TEST_P(SendValue, TrySendThatCannotProceedKeepsAMoveOnlyValue) {
    run([&] {
        chan<box> nobody;
        box p = std::make_unique<int>(1);
        EXPECT_FALSE(nobody.try_send(std::move(p)));
        ASSERT_TRUE(p);
        EXPECT_EQ(*p, 1);
        EXPECT_EQ(nobody.send_for(std::move(p), 1ms), csp::chan_status::timeout);
        ASSERT_TRUE(p);
        EXPECT_EQ(*p, 1);
    });
}

TEST_P(SendValue, SelectSendCaseLosingToAReceiveKeepsTheValue) {
    run([&] {
        chan<box> full = full_chan(std::make_unique<int>(0));
        chan<int> ready(1);
        ready.send(7);
        box p = std::make_unique<int>(1);
        int got = 0;
        EXPECT_EQ(csp::select(case_send(full, std::move(p)), case_recv(ready, [&](int v) { got = v; })), 1);
        EXPECT_EQ(got, 7);
        ASSERT_TRUE(p) << "the send case that lost emptied the caller's value";
        EXPECT_EQ(*p, 1);
    });
}

TEST_P(SendValue, SelectSendCaseTimingOutKeepsTheValue) {
    run([&] {
        chan<box> full = full_chan(std::make_unique<int>(0));
        chan<int> never;
        box p = std::make_unique<int>(2);
        // Not ready when polled: the case is queued, then the deadline wins.
        EXPECT_EQ(csp::select_for(2ms, case_send(full, std::move(p)), case_recv(never)), std::nullopt);
        ASSERT_TRUE(p);
        EXPECT_EQ(*p, 2);
        EXPECT_EQ(csp::select_until(steady::now() + 1ms, case_send(full, std::move(p))), std::nullopt);
        ASSERT_TRUE(p);
        EXPECT_EQ(*p, 2);
    });
}

TEST_P(SendValue, SelectSendCaseLosingToDefaultKeepsTheValue) {
    run([&] {
        chan<box> full = full_chan(std::make_unique<int>(0));
        box p = std::make_unique<int>(3);
        EXPECT_EQ(csp::select(case_send(full, std::move(p)), case_default()), 1);
        ASSERT_TRUE(p);
        EXPECT_EQ(*p, 3);
    });
}

TEST_P(SendValue, SelectSendOnAClosedChannelThrowsAndKeepsTheValue) {
    run([&] {
        chan<box> closed = closed_chan<box>();
        box p = std::make_unique<int>(4);
        EXPECT_THROW(csp::select(case_send(closed, std::move(p)), case_default()), closed_channel_error);
        ASSERT_TRUE(p);
        EXPECT_EQ(*p, 4);
    });
}

TEST_P(SendValue, SelectSendWaitingWhenTheChannelIsClosedKeepsTheValue) {
    run([&] {
        chan<box> ch;
        chan<int> never;
        task_group g(mode());
        g.go([s = mode(), ch] {
            ASSERT_TRUE(wait_until_blocked(s, 1, "select"));  // its send case is queued
            ch.close();
        });
        box p = std::make_unique<int>(5);
        EXPECT_THROW(csp::select(case_send(ch, std::move(p)), case_recv(never)), closed_channel_error);
        ASSERT_TRUE(p);
        EXPECT_EQ(*p, 5);
    });
}

TEST_P(SendValue, SendCaseThatRunsMovesTheValueOut) {
    run([&] {
        chan<box> room(1);
        box p = std::make_unique<int>(6);
        EXPECT_EQ(csp::select(case_send(room, std::move(p)), case_default()), 0);
        EXPECT_FALSE(p) << "the value was sent: it is moved out of the caller's object";
        EXPECT_EQ(**room.recv(), 6);
        // std::ref(x) refers to x the same way.
        box q = std::make_unique<int>(7);
        EXPECT_EQ(csp::select(case_send(room, std::ref(q))), 0);
        EXPECT_FALSE(q);
        EXPECT_EQ(**room.recv(), 7);
    });
}

TEST_P(SendValue, LvalueAndConvertedValuesAreCopiedIntoTheCase) {
    run([&] {
        chan<std::string> room(2);
        std::string s = "kept";
        EXPECT_EQ(csp::select(case_send(room, s)), 0);
        EXPECT_EQ(s, "kept");                        // an lvalue is copied, as ch.send(s) does
        EXPECT_EQ(csp::select(case_send(room, "converted")), 0);  // const char* -> std::string
        EXPECT_EQ(room.recv(), "kept");
        EXPECT_EQ(room.recv(), "converted");
    });
}

// Referring to a temporary int would dangle once the statement ends; a
// trivially copyable value is copied into the case instead.
static_assert(std::is_same_v<csp::detail::value_holder<int, int>, csp::detail::value_own<int>>);
static_assert(std::is_same_v<csp::detail::value_holder<box, box>, csp::detail::value_ref<box>>);
static_assert(std::is_same_v<csp::detail::value_holder<box, std::reference_wrapper<box>>, csp::detail::value_ref<box>>);
static_assert(std::is_same_v<csp::detail::value_holder<std::string, std::string&>, csp::detail::value_own<std::string>>);

TEST_P(SendValue, AStoredSendCaseOfATemporaryIntIsSafe) {
    run([&] {
        chan<int> room(1);
        auto s = case_send(room, 40 + 2);  // the temporary is gone after this line
        EXPECT_EQ(csp::select(s), 0);
        EXPECT_EQ(room.recv(), 42);
    });
}

TEST_P(SendValue, SelectorSendCaseByReferenceKeepsTheValueUnlessSent) {
    run([&] {
        chan<box> full = full_chan(std::make_unique<int>(0));
        chan<int> ready(1);
        box p = std::make_unique<int>(8);
        selector sel;
        const std::size_t send = sel.add_send(full, std::ref(p));
        const std::size_t recv = sel.add_recv(ready);
        EXPECT_EQ(sel.try_select(), std::nullopt);   // nothing ready
        EXPECT_EQ(sel.select_for(1ms), std::nullopt);  // timeout
        ready.send(1);
        EXPECT_EQ(sel.select(), recv);                // another case wins
        ASSERT_TRUE(p);
        EXPECT_EQ(*p, 8);
        (void)full.recv();  // make room
        EXPECT_EQ(sel.select(), send);
        EXPECT_FALSE(p);                               // sent: moved out
        EXPECT_EQ(**full.recv(), 8);
    });
}

TEST_P(SendValue, SelectorKeepsItsOwnValueForTheNextRunUntilSent) {
    run([&] {
        chan<box> full = full_chan(std::make_unique<int>(0));
        chan<int> ready(1);
        selector sel;
        const std::size_t send = sel.add_send(full, std::make_unique<int>(9));
        const std::size_t recv = sel.add_recv(ready);
        ready.send(1);
        EXPECT_EQ(sel.select(), recv);
        EXPECT_EQ(sel.select_for(1ms), std::nullopt);
        (void)full.recv();  // make room: the value kept in the selector goes now
        EXPECT_EQ(sel.select(), send);
        EXPECT_EQ(**full.recv(), 9);
        EXPECT_EQ(sel.try_select(), std::nullopt);  // sent: the case is off until set_send_value
        sel.set_send_value<box>(send, std::make_unique<int>(10));
        EXPECT_EQ(sel.select(), send);
        EXPECT_EQ(**full.recv(), 10);
    });
}

TEST_P(SendValue, SelectorSendOnAClosedChannelThrowsAndKeepsTheValue) {
    run([&] {
        chan<box> closed = closed_chan<box>();
        box p = std::make_unique<int>(11);
        selector sel;
        sel.add_send(closed, std::ref(p));
        EXPECT_THROW(sel.select(), closed_channel_error);
        ASSERT_TRUE(p);
        EXPECT_EQ(*p, 11);
    });
}

// ---- No copies on the way to a parked partner --------------------------------

TEST_P(SendValue, SelectHandsAValueToAParkedReceiverWithoutCopying) {
    run([&] {
        counted::reset();
        chan<counted> ch;
        chan<int> never;
        chan<int> got(1);
        task_group g(mode());
        g.go([ch, got] { got.send(ch.recv()->value()); });
        ASSERT_TRUE(wait_until_blocked(mode(), 1, "chan receive", object_of(ch)));
        counted c(21);
        EXPECT_EQ(csp::select(case_send(ch, std::move(c)), case_recv(never)), 0);
        EXPECT_EQ(got.recv(), 21);
        EXPECT_EQ(counted::copies(), 0);
    });
}

TEST_P(SendValue, ParkedSelectSendIsTakenByAReceiverWithoutCopying) {
    run([&] {
        counted::reset();
        chan<counted> ch;
        chan<int> never;
        chan<int> got(1);
        task_group g(mode());
        g.go([s = mode(), ch, got] {
            ASSERT_TRUE(wait_until_blocked(s, 1, "select"));  // its send case is queued
            got.send(ch.recv()->value());
        });
        EXPECT_EQ(csp::select(case_send(ch, counted(22)), case_recv(never)), 0);
        EXPECT_EQ(got.recv(), 22);
        EXPECT_EQ(counted::copies(), 0);
    });
}

TEST_P(SendValue, SelectorHandsAValueToAParkedReceiverWithoutCopying) {
    run([&] {
        counted::reset();
        chan<counted> ch;
        chan<int> got(2);
        task_group g(mode());
        g.go([ch, got] {
            for (int i = 0; i < 2; ++i) got.send(ch.recv()->value());
        });
        ASSERT_TRUE(wait_until_blocked(mode(), 1, "chan receive", object_of(ch)));
        selector sel;
        const std::size_t own = sel.add_send(ch, counted(23));  // moved into the selector
        EXPECT_EQ(sel.select(), own);
        EXPECT_EQ(got.recv(), 23);
        counted c(24);
        sel.set_send_value<counted>(own, std::ref(c));
        EXPECT_EQ(sel.select(), own);
        EXPECT_EQ(got.recv(), 24);
        EXPECT_EQ(counted::copies(), 0);
    });
}

}  // namespace
