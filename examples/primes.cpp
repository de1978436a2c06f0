// Port of primes.go: the daisy-chain prime sieve. Each prime found adds a
// filter goroutine to the chain; the head of the chain always yields the
// next prime. When main returns, the chain (still blocked sending) is
// dropped, as in Go.
//
// `primes N` prints the first N primes (10, as the original, by default).
#include <cstdio>
#include <cstdlib>

#include <chan/chan.hpp>
#include <fiber/go.hpp>

// generate sends 2, 3, 4, ... to ch.
void generate(csp::send_chan<int> ch) {
    for (int i = 2;; ++i) ch.send(i);
}

// filter copies the values from in to out, dropping the multiples of prime.
void filter(csp::recv_chan<int> in, csp::send_chan<int> out, int prime) {
    for (;;) {
        int i = *in.recv();  // never closed: recv() always holds a value
        if (i % prime != 0) out.send(i);
    }
}

int main(int argc, char** argv) {
    const int n = argc > 1 ? std::atoi(argv[1]) : 10;
    csp::run([n] {
        csp::chan<int> ch;
        csp::go(generate, ch);
        for (int i = 0; i < n; ++i) {
            int prime = *ch.recv();
            std::printf("%d\n", prime);
            csp::chan<int> ch1;
            csp::go(filter, ch, ch1, prime);
            ch = ch1;
        }
    });
}
