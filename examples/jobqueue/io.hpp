// jobqueue's two plain threads: one reads standard input, one owns standard
// output. Both block in system calls, which must never happen on a
// scheduler thread (it would stall every goroutine queued there); channels
// connect them to the goroutines.
//
//   jobqueue::line_reader in(0, 1 << 20);   // lines arrive on in.lines()
//   jobqueue::line_writer out(1);           // out.lines().send("{...}")
//   ...
//   in.stop();  out.close();                // at exit: both threads end
#pragma once

#include <cstddef>
#include <string>
#include <thread>

#include <chan/chan.hpp>

namespace jobqueue {

/// One line of input, without its newline. `too_long`: it exceeded the
/// limit; `text` holds its first bytes only (the rest was read and dropped).
struct input_line {
    std::string text;
    bool too_long = false;
};

/// Reads `fd` on its own thread, splitting at '\n'; lines() closes at end
/// of input (or a read error). A last line without a newline counts.
class line_reader {
public:
    line_reader(int fd, std::size_t max_line);
    /// stop() and join.
    ~line_reader();
    line_reader(const line_reader&) = delete;
    line_reader& operator=(const line_reader&) = delete;

    csp::recv_chan<input_line> lines() const { return lines_; }
    /// Makes the thread end promptly even while it waits for input that
    /// never comes; lines it had read and not handed over are dropped.
    void stop();

private:
    void run();
    int fd_;
    std::size_t max_line_;
    int wake_fd_;  // an eventfd: written by stop(), polled beside fd_
    csp::chan<input_line> lines_{16};
    csp::chan<csp::unit> stopping_;  // closed by stop(): a blocked send gives up
    std::thread thread_;
};

/// Writes the lines sent on lines() to `fd`, each followed by '\n', on its
/// own thread, batching what is queued into one write. If `fd` is closed
/// (EPIPE, or POLLERR seen while idle: its reader has gone; SIGPIPE must be
/// ignored) it closes broken() and drops the rest.
class line_writer {
public:
    explicit line_writer(int fd);
    /// close() and join.
    ~line_writer();
    line_writer(const line_writer&) = delete;
    line_writer& operator=(const line_writer&) = delete;

    csp::send_chan<std::string> lines() const { return lines_; }
    csp::recv_chan<csp::unit> broken() const { return broken_; }
    /// No more lines: the thread writes what is queued and ends.
    void close();

private:
    void run();
    int fd_;
    csp::chan<std::string> lines_{4096};
    csp::chan<csp::unit> broken_;
    bool closed_ = false;
    std::thread thread_;
};

}  // namespace jobqueue
