// Go's spellings on channels: v := <-ch (recv_or_zero: the zero value once
// closed, never undefined behaviour) and nil channels written with nullptr.
#include "harness/harness.hpp"

#include <string>

namespace {

using namespace csp_test;
using csp::case_default;
using csp::case_recv;
using csp::chan;
using csp::recv_chan;
using csp::send_chan;

class ChanApi : public SettingTest {};
CSP_INSTANTIATE_SETTINGS(ChanApi);

TEST_P(ChanApi, RecvOrZeroGivesValuesThenTheZeroValueOnceClosed) {
    run([&] {
        chan<std::string> ch;
        task_group g(mode());
        g.go([ch] {
            ch.send("a");
            ch.send("b");
            ch.close();
        });
        EXPECT_EQ(ch.recv_or_zero(), "a");
        recv_chan<std::string> r = ch;
        EXPECT_EQ(r.recv_or_zero(), "b");
        EXPECT_EQ(ch.recv_or_zero(), "");
        EXPECT_EQ(r.recv_or_zero(), "");
        chan<int> ints = closed_chan<int>();
        EXPECT_EQ(ints.recv_or_zero(), 0);
    });
}

TEST_P(ChanApi, NilChannelsWrittenWithNullptr) {
    run([&] {
        chan<int> nil = nullptr;  // var nil chan int
        EXPECT_TRUE(nil == nullptr);
        EXPECT_FALSE(nil != nullptr);
        EXPECT_TRUE(nil.is_nil());
        EXPECT_EQ(nil, chan<int>::nil());
        chan<int> ch;
        EXPECT_TRUE(ch != nullptr);
        EXPECT_FALSE(nullptr == ch);
        ch = nullptr;
        EXPECT_TRUE(ch == nullptr);
        // A nil channel is never ready: select takes default.
        EXPECT_EQ(csp::select(case_recv(nil), case_default()), 1);
        EXPECT_EQ(nil.try_recv().status, csp::chan_status::would_block);

        send_chan<int> s = nullptr;
        recv_chan<int> r = nullptr;
        EXPECT_TRUE(s == nullptr);
        EXPECT_TRUE(r == nullptr);
        chan<int> live;
        s = live;
        r = live;
        EXPECT_TRUE(s != nullptr);
        EXPECT_TRUE(r != nullptr);
        s = nullptr;
        r = nullptr;
        EXPECT_TRUE(s == nullptr);
        EXPECT_TRUE(r == nullptr);
        EXPECT_TRUE(send_chan<int>() == nullptr);
        EXPECT_TRUE(recv_chan<int>() == nullptr);
    });
}

TEST_P(ChanApi, CapacityTakesAnyIntegerAndRejectsNegatives) {
    run([&] {
        EXPECT_EQ(chan<int>(0).cap(), 0u);  // 0 is a capacity, not the nil channel
        EXPECT_FALSE(chan<int>(0) == nullptr);
        EXPECT_EQ(chan<int>(3).cap(), 3u);
        EXPECT_EQ(chan<int>(std::size_t{4}).cap(), 4u);
        EXPECT_EQ(chan<int>(short{5}).cap(), 5u);
        EXPECT_THROW(chan<int>(-1), std::invalid_argument);  // Go panics: makechan: size out of range
    });
}

}  // namespace
