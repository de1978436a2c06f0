#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include <chan/chan.hpp>
#include <chan/select.hpp>
#include <fiber/go.hpp>

TEST(ChanBasic, UnbufferedPingPongBetweenGoroutines) {
    csp::run([] {
        csp::chan<int> ping, pong;
        csp::go([=] {
            for (auto v : ping) pong.send(v + 1);
            pong.close();
        });
        long sum = 0;
        for (int i = 0; i < 10000; ++i) {
            ping.send(i);
            sum += *pong.recv();
        }
        ping.close();
        EXPECT_FALSE(pong.recv().has_value());
        EXPECT_EQ(sum, 10000L * 9999 / 2 + 10000);
    });
}

TEST(ChanBasic, PlainThreads) {
    csp::chan<int> ch(3);
    std::thread t([&] {
        for (int i = 0; i < 1000; ++i) ch.send(i);
        ch.close();
    });
    int expect = 0;
    for (int v : ch) EXPECT_EQ(v, expect++);
    EXPECT_EQ(expect, 1000);
    t.join();
}

TEST(ChanBasic, SelectTimeout) {
    csp::run([] {
        csp::chan<int> never;
        auto r = never.recv_for(std::chrono::milliseconds(5));
        EXPECT_EQ(r.status, csp::chan_status::timeout);
    });
}
