// Port of stringchan_nowait.go (seed 001, the first stringchan program):
// main sends three messages and returns without waiting, so the goroutine
// may not print the last one before the program ends. As in Go, goroutines
// still running when main returns are dropped; stringchan.cpp is the
// version that waits (quitchan and done).
#include <cstdio>
#include <string>

#include <chan/chan.hpp>
#include <chan/select.hpp>
#include <fiber/go.hpp>

int main() {
    csp::run([] {
        csp::chan<std::string> stringchan;

        csp::go([=] {
            for (;;) {
                csp::select(csp::case_recv(stringchan, [](std::string message) {  // case message := <-stringchan
                    std::printf("Got a message from stringchan: %s\n", message.c_str());
                    std::fflush(stdout);
                }));
            }
        });

        std::printf("Adding some messages...\n");
        std::fflush(stdout);

        stringchan.send("Hello there.");
        stringchan.send("Another message.");
        stringchan.send("Yet another message.");
    });
}
