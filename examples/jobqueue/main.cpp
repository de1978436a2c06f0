// jobqueue: the executor of seed 003 (a Haskell async job queue driven over
// stdin/stdout) on csp::task_queue, speaking JSON lines. See README's
// "jobqueue" and "Durable queues" sections for the protocol and the stores.
//
//   build/examples/jobqueue [--workers N] [--max-line BYTES]
//       [--store memory|sqlite:PATH|redis://HOST:PORT/NAME]   (default sqlite:jobqueue.db)
//       [--visibility-ms MS] [--heartbeat-ms MS] [--prefetch N]   (tasks in hand per worker, default 0)
//   {"id":1,"op":"submit","task":"sleep","args":{"ms":50}}
//   {"id":1,"ok":true,"task_id":1}
//   {"event":"task","task_id":1,"state":"queued","attempt":0,"worker":null}
//
// Threads: one plain thread reads stdin, one writes stdout (io.hpp); the
// session and the dispatcher are goroutines. Exit status 0 after any
// shutdown (a request, the end of input, or stdout closing), 2 for bad flags
// or a store that cannot be opened.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <fcntl.h>
#include <unistd.h>

#include <dispatcher/task_queue.hpp>
#include <fiber/go.hpp>

#include "../example.hpp"
#include "io.hpp"
#include "session.hpp"
#include "tasks.hpp"

namespace {

long number_flag(int argc, char** argv, const char* name, long fallback, long min, long max) {
    const std::string v = examples::flag_value(argc, argv, name, std::to_string(fallback));
    char* end = nullptr;
    const long n = std::strtol(v.c_str(), &end, 10);
    if (end == v.c_str() || *end != '\0' || n < min || n > max) {
        std::fprintf(stderr, "jobqueue: %s wants a number from %ld to %ld\n", name, min, max);
        std::exit(2);
    }
    return n;
}

long positive_flag(int argc, char** argv, const char* name, long fallback, long max) {
    return number_flag(argc, argv, name, fallback, 1, max);
}

/// Started with stdin, stdout or stderr closed, the next file opened (our
/// eventfd) would take that number and be read or written as if it were
/// standard input or output: give each closed one /dev/null opened for
/// reading only (stdin: end of input at once; stdout: every write fails, as
/// on a closed pipe, so the program cancels everything and exits).
void ensure_standard_fds() {
    for (int fd = 0; fd <= 2; ++fd)
        if (fcntl(fd, F_GETFD) == -1) {
            const int n = open("/dev/null", O_RDONLY);
            if (n >= 0 && n != fd) {
                dup2(n, fd);
                close(n);
            }
        }
}

}  // namespace

int main(int argc, char** argv) {
    ensure_standard_fds();
    // A closed stdout must be an error from write(), not a death by signal.
    std::signal(SIGPIPE, SIG_IGN);
    jobqueue::session_options opts;
    opts.workers = static_cast<std::size_t>(positive_flag(argc, argv, "--workers", 2, 256));
    opts.max_line = static_cast<std::size_t>(positive_flag(argc, argv, "--max-line", 1 << 20, 1L << 30));
    const auto prefetch = static_cast<std::size_t>(number_flag(argc, argv, "--prefetch", 0, 0, 64));
    const std::string store = examples::flag_value(argc, argv, "--store", "sqlite:jobqueue.db");
    csp::backend_options bo;
    bo.visibility_timeout = std::chrono::milliseconds(positive_flag(argc, argv, "--visibility-ms", 30000, 86'400'000));
    bo.heartbeat_interval = std::chrono::milliseconds(positive_flag(argc, argv, "--heartbeat-ms", 5000, 86'400'000));
    if (bo.heartbeat_interval >= bo.visibility_timeout) {
        std::fprintf(stderr, "jobqueue: --heartbeat-ms must be below --visibility-ms\n");
        return 2;
    }
    std::unique_ptr<csp::queue_backend> backend;
    try {
        backend = csp::open_backend(store, bo);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "jobqueue: --store %s: %s\n", store.c_str(), e.what());
        return 2;
    }

    jobqueue::line_writer out(1);
    jobqueue::line_reader in(0, opts.max_line);
    csp::run([&] {
        csp::task_queue_options qo;
        qo.workers = opts.workers;
        qo.backend = std::move(backend);
        qo.heartbeat_interval = bo.heartbeat_interval;
        qo.prefetch = prefetch;
        qo.backoff = jobqueue::retry_delay;
        qo.events_from_start = true;  // the workers' "started" events are written too
        qo.handlers = jobqueue::task_handlers();  // before the first claim: the store may hold tasks already
        csp::task_queue q(std::move(qo));
        csp::chan<csp::unit> done;
        // Parsing and writing JSON nest a few calls per level: more than
        // the default 64 KiB stack, without guessing close to it.
        csp::go(csp::stack_size{1 << 20}, [&] {
            jobqueue::run_session(q, in.lines(), out.lines(), out.broken(), opts);
            done.close();
        });
        done.recv();
    });
    // The reader may sit in read() on a terminal or a pipe nobody closes:
    // wake it; the writer writes what is queued. Both threads are joined.
    in.stop();
    out.close();
    return 0;
}
