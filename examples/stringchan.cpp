// Port of stringchan.go (seed 001): a goroutine selects between a message
// channel and a quit channel, and reports on `done` before it returns.
//
// The output is deterministic, as in Go: every channel is unbuffered, so
// main's next send completes only once the goroutine is back in its select,
// after printing the previous message.
#include <cstdio>
#include <optional>
#include <string>

#include <chan/chan.hpp>
#include <chan/select.hpp>
#include <fiber/go.hpp>

int main() {
    csp::run([] {
        csp::chan<std::string> stringchan;
        csp::chan<bool> quitchan;
        csp::chan<bool> done;

        csp::go([=] {
            for (;;) {
                bool quit = false;
                csp::select(
                    csp::case_recv(stringchan, [](std::optional<std::string> message) {
                        // Go's zero value "" if the channel were closed (it never is here).
                        std::printf("Got a message from stringchan: %s\n", message.value_or("").c_str());
                    }),
                    csp::case_recv(quitchan, [&](std::optional<bool>) {
                        // We don't care what quitchan's value is here, we just return.
                        quit = true;
                    }));
                if (quit) {
                    done.send(true);
                    return;
                }
            }
        });

        std::printf("Adding some messages...\n");

        stringchan.send("Hello there.");
        stringchan.send("Another message.");
        stringchan.send("Yet another message.");
        quitchan.send(true);

        done.recv();
        std::printf("Exiting...\n");
    });
}
