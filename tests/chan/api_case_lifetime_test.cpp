// A select case keeps alive what it refers to: a case built from a temporary
// channel handle (csp::after(d), ctx.done(), std::move(ch)) owns it; a case
// built from a channel variable reads that variable when the select runs.
// Run under AddressSanitizer, these would report a use after free otherwise.
#include "harness/harness.hpp"

#include <chan/context.hpp>
#include <chan/time.hpp>

namespace {

using namespace csp_test;
using csp::case_default;
using csp::case_recv;
using csp::case_send;
using csp::chan;

class CaseLifetime : public SettingTest {};
CSP_INSTANTIATE_SETTINGS(CaseLifetime);

TEST_P(CaseLifetime, AStoredCaseOnAfterOwnsTheTimersChannel) {
    run([&] {
        chan<int> work;
        // The handle after() returns dies at the end of this statement; the
        // timer frees its channel when it fires. The case must keep it.
        auto t = case_recv(csp::after(200us));
        EXPECT_EQ(csp::select(t, case_recv(work)), 0);
        EXPECT_TRUE(t.value.has_value());
    });
}

TEST_P(CaseLifetime, AStoredCaseOnAContextsDoneChannelOwnsIt) {
    run([&] {
        auto [ctx, cancel] = csp::with_cancel(csp::background());
        auto done = case_recv(ctx.done());
        cancel();
        ctx = csp::background();  // drop the context: the case still holds its channel
        EXPECT_EQ(csp::select(done, case_default()), 0);
        EXPECT_FALSE(done.value.has_value());  // closed
    });
}

TEST_P(CaseLifetime, ACaseBuiltFromAMovedHandleOwnsTheChannel) {
    run([&] {
        chan<int> only(1);
        only.send(3);
        auto c = case_recv(std::move(only));  // the case holds the only handle
        auto s = case_send(csp::send_chan<int>(chan<int>(1)), 4);
        EXPECT_EQ(csp::select(c), 0);
        EXPECT_EQ(c.value, 3);
        EXPECT_EQ(csp::select(s), 0);  // room in the case's own channel
    });
}

TEST_P(CaseLifetime, ACaseOnAVariableSeesTheVariableWhenTheSelectRuns) {
    run([&] {
        chan<int> a(1);
        a.send(1);
        auto c = case_recv(a);
        a = nullptr;  // frees the channel; the case now sees the nil channel
        EXPECT_EQ(csp::select(c, case_default()), 1);
        chan<int> b(1);
        b.send(2);
        a = b;
        EXPECT_EQ(csp::select(c, case_default()), 0);
        EXPECT_EQ(c.value, 2);
    });
}

}  // namespace
