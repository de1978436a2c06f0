// Element types (move-only, not default-constructible, copy-counted) and
// the direction views send_chan<T> / recv_chan<T>.
#include "harness/harness.hpp"

#include <memory>
#include <type_traits>

namespace {

using namespace csp_test;
using csp::chan;
using csp::recv_chan;
using csp::send_chan;

// Direction views: what compiles and what must not.
static_assert(std::is_convertible_v<chan<int>, send_chan<int>>);
static_assert(std::is_convertible_v<chan<int>, recv_chan<int>>);
static_assert(!std::is_convertible_v<send_chan<int>, chan<int>>);
static_assert(!std::is_convertible_v<recv_chan<int>, chan<int>>);
static_assert(!std::is_convertible_v<send_chan<int>, recv_chan<int>>);
static_assert(!std::is_convertible_v<recv_chan<int>, send_chan<int>>);
static_assert(!std::is_convertible_v<chan<int>, send_chan<long>>);
// (A requires-expression must be in a template to turn an invalid
// expression into `false`; outside one it is a hard error.)
template <class C> concept can_send = requires(C c) { c.send(1); };
template <class C> concept can_try_send = requires(C c) { c.try_send(1); };
template <class C> concept can_send_for = requires(C c) { c.send_for(1, 1s); };
template <class C> concept can_close = requires(C c) { c.close(); };
template <class C> concept can_recv = requires(C c) { c.recv(); };
template <class C> concept can_try_recv = requires(C c) { c.try_recv(); };
template <class C> concept can_recv_for = requires(C c) { c.recv_for(1s); };
template <class C> concept can_range_for = requires(C c) { c.begin(); };
template <class C> concept can_case_recv = requires(C c) { csp::case_recv(c); };
template <class C> concept can_case_send = requires(C c) { csp::case_send(c, 1); };

static_assert(can_send<chan<int>> && can_recv<chan<int>> && can_close<chan<int>>);
static_assert(can_send<send_chan<int>> && can_try_send<send_chan<int>> && can_send_for<send_chan<int>>);
static_assert(can_close<send_chan<int>> && can_case_send<send_chan<int>>);
static_assert(can_recv<recv_chan<int>> && can_try_recv<recv_chan<int>> && can_recv_for<recv_chan<int>>);
static_assert(can_range_for<recv_chan<int>> && can_case_recv<recv_chan<int>>);
static_assert(!can_send<recv_chan<int>>);
static_assert(!can_try_send<recv_chan<int>>);
static_assert(!can_send_for<recv_chan<int>>);
static_assert(!can_close<recv_chan<int>>);
static_assert(!can_case_send<recv_chan<int>>);
static_assert(!can_recv<send_chan<int>>);
static_assert(!can_try_recv<send_chan<int>>);
static_assert(!can_recv_for<send_chan<int>>);
static_assert(!can_range_for<send_chan<int>>);
static_assert(!can_case_recv<send_chan<int>>);

class ChanTypes : public SettingTest {};
CSP_INSTANTIATE_SETTINGS(ChanTypes);

TEST_P(ChanTypes, MoveOnlyValuesPassThroughEveryKindOfChannel) {
    run([&] {
        for (std::size_t cap : {0u, 1u, 3u}) {
            chan<std::unique_ptr<int>> ch(cap);
            task_group g(mode());
            g.go([=] {
                for (int i = 0; i < 20; ++i) ch.send(std::make_unique<int>(i));
                ch.close();
            });
            int expect = 0;
            for (auto& p : ch) {
                ASSERT_NE(p, nullptr);
                EXPECT_EQ(*p, expect++);
            }
            EXPECT_EQ(expect, 20);
        }
    });
}

struct no_default {
    explicit no_default(int x) noexcept : v(x) {}
    no_default() = delete;
    int v;
};
static_assert(!std::is_default_constructible_v<no_default>);

TEST_P(ChanTypes, NonDefaultConstructibleValues) {
    run([&] {
        chan<no_default> ch(2);
        ch.send(no_default(1));
        EXPECT_TRUE(ch.try_send(no_default(2)));
        EXPECT_EQ(ch.recv()->v, 1);
        auto r = ch.try_recv();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->v, 2);
        chan<no_default> unbuffered;
        task_group g(mode());
        g.go([=] { unbuffered.send(no_default(3)); });
        EXPECT_EQ(unbuffered.recv_for(patience).value->v, 3);
    });
}

// Sends rvalues of `counted` through a channel of capacity `cap` and checks
// no copy was made on the way.
void expect_moved_through(setting s, std::size_t cap) {
    chan<counted> ch(cap);
    counted::reset();
    task_group g(s);
    g.go([=] {
        for (int i = 0; i < 10; ++i) ch.send(counted(i));
        ch.send_for(counted(10), patience);
        ch.close();
    });
    int expect = 0;
    while (auto v = ch.recv()) EXPECT_EQ(v->value(), expect++);
    g.wait();
    EXPECT_EQ(expect, 11);
    EXPECT_EQ(counted::copies(), 0) << "capacity " << cap;
}

TEST_P(ChanTypes, SentRvaluesAreMovedNeverCopied) {
    run([&] {
        expect_moved_through(mode(), 0);
        expect_moved_through(mode(), 1);
        expect_moved_through(mode(), 4);
    });
}

TEST_P(ChanTypes, SentLvalueIsCopiedOnceAndLeftIntact) {
    run([&] {
        chan<counted> ch(1);
        counted::reset();
        counted c(7);
        ch.send(c);
        EXPECT_EQ(counted::copies(), 1);
        EXPECT_EQ(c.value(), 7);
        EXPECT_EQ(ch.recv()->value(), 7);
        EXPECT_EQ(counted::copies(), 1);
    });
}

TEST_P(ChanTypes, SelectMovesValuesNeverCopies) {
    run([&] {
        chan<counted> ch(1);
        counted::reset();
        EXPECT_EQ(csp::select(csp::case_send(ch, counted(3))), 0);
        int got = 0;
        EXPECT_EQ(csp::select(csp::case_recv(ch, [&](std::optional<counted> v) { got = v->value(); })), 0);
        EXPECT_EQ(got, 3);
        EXPECT_EQ(counted::copies(), 0);
    });
}

TEST_P(ChanTypes, DirectionViewsShareTheChannel) {
    run([&] {
        chan<int> ch(2);
        send_chan<int> out = ch;
        recv_chan<int> in = ch;
        EXPECT_EQ(out.cap(), 2u);
        EXPECT_EQ(in.cap(), 2u);
        EXPECT_TRUE(out == send_chan<int>(ch));
        EXPECT_TRUE(in == recv_chan<int>(ch));
        EXPECT_TRUE(send_chan<int>().is_nil());  // default views are nil
        EXPECT_TRUE(recv_chan<int>().is_nil());
        task_group g(mode());
        g.go([out] {
            for (int i = 0; i < 5; ++i) out.send(i);
            EXPECT_EQ(out.send_for(5, patience), csp::chan_status::ok);
            out.close();
        });
        int expect = 0;
        for (int v : in) EXPECT_EQ(v, expect++);
        EXPECT_EQ(expect, 6);
        EXPECT_EQ(in.try_recv().status, csp::chan_status::closed);
        EXPECT_EQ(in.recv_for(1s).status, csp::chan_status::closed);
    });
}

}  // namespace
