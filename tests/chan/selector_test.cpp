// csp::selector: selects whose cases are built at run time.
#include "harness/harness.hpp"

#include <chan/selector.hpp>

#include <stdexcept>
#include <string>

namespace {

using namespace csp_test;
using csp::chan;
using csp::selector;

class Selector : public SettingTest {};
CSP_INSTANTIATE_SETTINGS(Selector);

TEST_P(Selector, ReceivesFromChannelsOfDifferentTypes) {
    run([&] {
        chan<int> ints(1);
        chan<std::string> strings(1);
        selector sel;
        const std::size_t i = sel.add_recv(ints);
        const std::size_t s = sel.add_recv(csp::recv_chan<std::string>(strings));
        EXPECT_EQ(sel.size(), 2u);
        EXPECT_NE(i, s);
        strings.send("text");
        EXPECT_EQ(sel.select(), s);
        EXPECT_TRUE(sel.ok(s));
        EXPECT_EQ(sel.take<std::string>(s), "text");
        ints.send(4);
        EXPECT_EQ(sel.select(), i);
        EXPECT_EQ(sel.take<int>(i), 4);
        EXPECT_THROW(sel.take<std::string>(i), std::invalid_argument);
    });
}

TEST_P(Selector, TrySelectAndSelectForWhenNothingIsReady) {
    run([&] {
        chan<int> a, b(1);
        selector sel;
        sel.add_recv(a);
        sel.add_recv(b);
        EXPECT_EQ(sel.try_select(), std::nullopt);
        const auto t0 = steady::now();
        EXPECT_EQ(sel.select_for(20ms), std::nullopt);
        EXPECT_GE(since(t0), 20ms);
        EXPECT_EQ(sel.select_until(steady::now() + 5ms), std::nullopt);
        b.send(2);
        EXPECT_EQ(sel.try_select(), 1u);
        EXPECT_EQ(sel.take<int>(1), 2);
    });
}

TEST_P(Selector, BlockingSelectIsCompletedByAnotherTask) {
    run([&] {
        chan<int> a, b;
        selector sel;
        sel.add_recv(a);
        sel.add_recv(b);
        task_group g(mode());
        g.go([&] { b.send(6); });
        EXPECT_EQ(sel.select_for(patience), 1u);
        EXPECT_EQ(sel.take<int>(1), 6);
    });
}

TEST_P(Selector, SendCasesSendOnceUntilGivenANewValue) {
    run([&] {
        chan<int> ints(4);
        chan<std::string> strings(4);
        selector sel;
        const std::size_t i = sel.add_send(ints, 1);
        const std::size_t s = sel.add_send(csp::send_chan<std::string>(strings), "one");
        std::size_t first = sel.select();
        std::size_t second = sel.select();
        EXPECT_NE(first, second);
        EXPECT_TRUE(sel.ok(first) && sel.ok(second));
        // Both values sent: no case left that could run.
        EXPECT_EQ(sel.try_select(), std::nullopt);
        EXPECT_EQ(ints.recv(), 1);
        EXPECT_EQ(strings.recv(), "one");
        sel.set_send_value<int>(i, 2);
        EXPECT_EQ(sel.select(), i);
        EXPECT_EQ(ints.recv(), 2);
        EXPECT_THROW(sel.set_send_value<int>(s, 3), std::invalid_argument);
    });
}

TEST_P(Selector, OkIsFalseForAClosedChannel) {
    run([&] {
        auto closed = closed_chan<int>();
        selector sel;
        sel.add_recv(closed);
        EXPECT_EQ(sel.select(), 0u);
        EXPECT_FALSE(sel.ok(0));
        EXPECT_EQ(sel.take<int>(0), std::nullopt);
    });
}

TEST_P(Selector, SendOnClosedChannelThrows) {
    run([&] {
        auto closed = closed_chan<int>();
        selector sel;
        sel.add_send(closed, 1);
        EXPECT_THROW(sel.select(), csp::closed_channel_error);
    });
}

TEST_P(Selector, DisabledCasesAreNotChosenUntilEnabled) {
    run([&] {
        auto a = closed_chan<int>(), b = closed_chan<int>();
        selector sel;
        sel.add_recv(a);
        sel.add_recv(b);
        sel.disable(0);
        for (int k = 0; k < 100; ++k) ASSERT_EQ(sel.select(), 1u);
        sel.disable(1);
        EXPECT_EQ(sel.try_select(), std::nullopt);
        EXPECT_EQ(sel.select_for(5ms), std::nullopt);
        sel.enable(0);
        EXPECT_EQ(sel.select(), 0u);
        sel.enable(1);
        bool saw[2] = {false, false};
        for (int k = 0; k < 200; ++k) saw[sel.select()] = true;
        EXPECT_TRUE(saw[0] && saw[1]);
    });
}

TEST_P(Selector, NilChannelCasesAreNeverChosen) {
    run([&] {
        selector sel;
        sel.add_recv(chan<int>::nil());
        sel.add_send(chan<int>::nil(), 1);
        EXPECT_EQ(sel.try_select(), std::nullopt);
        sel.add_recv(closed_chan<int>());
        for (int k = 0; k < 100; ++k) ASSERT_EQ(sel.select(), 2u);
    });
}

TEST_P(Selector, KeepsItsChannelsAlive) {
    run([&] {
        selector sel;
        {
            chan<std::string> ch(1);
            ch.send(std::string(64, 'y'));
            sel.add_recv(ch);
        }  // the selector holds the only reference now
        EXPECT_EQ(sel.select(), 0u);
        EXPECT_EQ(sel.take<std::string>(0), std::string(64, 'y'));
    });
}

TEST_P(Selector, ChoosesUniformlyAmongReadyCases) {
    run([&] {
        auto a = closed_chan<int>();
        auto b = closed_chan<long>();
        auto c = closed_chan<std::string>();
        selector sel;
        sel.add_recv(a);
        sel.add_recv(b);
        sel.add_recv(c);
        expect_uniform(3, 20000, 0.30, 0.367, [&] { return static_cast<int>(sel.select()); });
    });
}

TEST_P(Selector, ValuesAreMovedNeverCopied) {
    run([&] {
        chan<counted> ch(1);
        counted::reset();
        selector sel;
        const std::size_t s = sel.add_send(ch, counted(8));
        const std::size_t r = sel.add_recv(ch);
        EXPECT_EQ(sel.select(), s);  // empty: only the send can run
        EXPECT_EQ(sel.select(), r);  // full, send used up: only the receive
        EXPECT_EQ(sel.take<counted>(r)->value(), 8);
        EXPECT_EQ(counted::copies(), 0);
    });
}

}  // namespace
