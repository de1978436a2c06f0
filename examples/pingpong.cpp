// Port of pingpong.go: two players pass one ball over one unbuffered
// channel; main tosses it in, waits, and grabs it back. The ball is a
// std::unique_ptr: the channel moves it, so exactly one goroutine holds it
// at any time (Go's *Ball is shared by convention only).
//
// Which player hits first varies (both wait on the table); the port checks
// that they alternate: each player always sees hits of the same parity.
// --fast divides the durations by 10.
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>

#include <chan/chan.hpp>
#include <fiber/go.hpp>
#include <fiber/sleep.hpp>

#include "example.hpp"

using namespace std::chrono_literals;

struct ball {
    int hits = 0;
};

void player(const char* name, csp::chan<std::unique_ptr<ball>> table, examples::time_scale scaled) {
    std::optional<int> parity;  // not in the original: the alternation check
    for (;;) {
        auto b = *table.recv();  // never closed
        b->hits++;
        std::printf("%s %d\n", name, b->hits);
        if (!parity) parity = b->hits % 2;
        examples::check(b->hits % 2 == *parity, "a player hit the ball twice in a row");
        csp::sleep_for(scaled(100ms));
        table.send(std::move(b));
    }
}

int main(int argc, char** argv) {
    const examples::time_scale scaled(argc, argv);
    csp::run([scaled] {
        csp::chan<std::unique_ptr<ball>> table;
        csp::go(player, "ping", table, scaled);
        csp::go(player, "pong", table, scaled);

        table.send(std::make_unique<ball>());  // game on; toss the ball
        csp::sleep_for(scaled(1s));
        auto b = *table.recv();  // game over; grab the ball
        std::printf("game over after %d hits\n", b->hits);
    });
}
