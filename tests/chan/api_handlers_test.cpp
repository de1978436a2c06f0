// Select receive handlers in Go's shapes: case <-ch, case v := <-ch,
// case v, ok := <-ch, plus std::optional<T>; chosen by what the handler can be
// called with.
#include "harness/harness.hpp"

#include <any>
#include <string>

namespace {

using namespace csp_test;
using csp::case_default;
using csp::case_recv;
using csp::chan;
using csp::detail::recv_shape;
using csp::detail::recv_shape_of;

// The dispatch rule, at compile time.
void takes_int(int) {}
static_assert(recv_shape_of<int, decltype([] {})>() == recv_shape::nothing);
static_assert(recv_shape_of<int, decltype([](int) {})>() == recv_shape::value);
static_assert(recv_shape_of<int, decltype([](const int&) {})>() == recv_shape::value);
static_assert(recv_shape_of<int, decltype([](long) {})>() == recv_shape::value);
static_assert(recv_shape_of<int, decltype(&takes_int)>() == recv_shape::value);
static_assert(recv_shape_of<int, decltype([](int, bool) {})>() == recv_shape::value_ok);
static_assert(recv_shape_of<int, decltype([](auto, auto) {})>() == recv_shape::value_ok);
static_assert(recv_shape_of<int, decltype([](std::optional<int>) {})>() == recv_shape::optional);
static_assert(recv_shape_of<int, decltype([](const std::optional<int>&) {})>() == recv_shape::optional);
// A generic one-parameter handler gets std::optional<T> (documented).
static_assert(recv_shape_of<int, decltype([](auto) {})>() == recv_shape::optional);
static_assert(recv_shape_of<int, decltype([](auto v) { return v.has_value(); })>() == recv_shape::optional);
// A T that converts from std::optional<T>: the declared parameter decides.
static_assert(recv_shape_of<std::any, decltype([](std::any) {})>() == recv_shape::value);
static_assert(recv_shape_of<std::any, decltype([](std::optional<std::any>) {})>() == recv_shape::optional);
// A channel of optionals: T is std::optional<int>.
static_assert(recv_shape_of<std::optional<int>, decltype([](std::optional<int>) {})>() == recv_shape::value);

class Handlers : public SettingTest {};
CSP_INSTANTIATE_SETTINGS(Handlers);

TEST_P(Handlers, ValueShapeGetsTheValueAndTheZeroValueOnceClosed) {
    run([&] {
        chan<std::string> ch(1);
        ch.send("go");
        std::string got = "unset";
        EXPECT_EQ(csp::select(case_recv(ch, [&](std::string v) { got = std::move(v); })), 0);
        EXPECT_EQ(got, "go");
        ch.close();
        EXPECT_EQ(csp::select(case_recv(ch, [&](std::string v) { got = std::move(v); })), 0);
        EXPECT_EQ(got, "");  // Go's zero value
    });
}

TEST_P(Handlers, ValueOkShapeTellsAValueFromTheClose) {
    run([&] {
        chan<int> ch(1);
        ch.send(0);  // a real zero
        int v = -1;
        bool ok = false;
        auto h = [&](int x, bool o) {
            v = x;
            ok = o;
        };
        EXPECT_EQ(csp::select(case_recv(ch, h)), 0);
        EXPECT_EQ(v, 0);
        EXPECT_TRUE(ok);
        ch.close();
        EXPECT_EQ(csp::select(case_recv(ch, h)), 0);
        EXPECT_EQ(v, 0);
        EXPECT_FALSE(ok);
    });
}

TEST_P(Handlers, OptionalGenericAndNoArgumentShapes) {
    run([&] {
        chan<int> ch(2);
        ch.send(5);
        ch.send(6);
        std::optional<int> opt;
        EXPECT_EQ(csp::select(case_recv(ch, [&](std::optional<int> v) { opt = v; })), 0);
        EXPECT_EQ(opt, 5);
        bool had = false;
        EXPECT_EQ(csp::select(case_recv(ch, [&](auto v) { had = v.has_value(); })), 0);  // std::optional<int>
        EXPECT_TRUE(had);
        ch.close();
        bool ran = false;
        EXPECT_EQ(csp::select(case_recv(ch, [&] { ran = true; })), 0);
        EXPECT_TRUE(ran);
        EXPECT_EQ(csp::select(case_recv(ch, [&](auto v) { had = v.has_value(); })), 0);
        EXPECT_FALSE(had);
    });
}

TEST_P(Handlers, ValueShapeFromAPartnerOnAnotherTask) {
    run([&] {
        chan<int> ch;
        chan<int> never;
        task_group g(mode());
        g.go([s = mode(), ch] {
            ASSERT_TRUE(wait_until_blocked(s, 1, "select"));
            ch.send(42);
            ch.close();
        });
        int got = 0;
        int closes = 0;
        for (int i = 0; i < 2; ++i) {
            EXPECT_EQ(csp::select(case_recv(never), case_recv(ch, [&](int v, bool ok) {
                                      if (ok) got = v;
                                      else ++closes;
                                  })),
                      1);
        }
        EXPECT_EQ(got, 42);
        EXPECT_EQ(closes, 1);
    });
}

TEST_P(Handlers, AMoveOnlyValueIsMovedIntoAValueHandler) {
    run([&] {
        chan<std::unique_ptr<int>> ch(1);
        ch.send(std::make_unique<int>(3));
        std::unique_ptr<int> got;
        EXPECT_EQ(csp::select(case_recv(ch, [&](std::unique_ptr<int> p) { got = std::move(p); }), case_default()), 0);
        ASSERT_TRUE(got);
        EXPECT_EQ(*got, 3);
    });
}

}  // namespace
