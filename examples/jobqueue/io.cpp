// The stdin and stdout threads (see io.hpp).
#include "io.hpp"

#include <cerrno>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chan/select.hpp>

namespace jobqueue {

line_reader::line_reader(int fd, std::size_t max_line)
    : fd_(fd), max_line_(max_line), wake_fd_(eventfd(0, EFD_CLOEXEC)), thread_([this] { run(); }) {}

line_reader::~line_reader() {
    stop();
    thread_.join();
    if (wake_fd_ >= 0) ::close(wake_fd_);
}

void line_reader::stop() {
    if (stopping_.try_recv().status == csp::chan_status::closed) return;
    stopping_.close();
    const std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
}

void line_reader::run() {
    input_line cur;
    // Hands a line over unless stop() came first; false: stop.
    auto hand_over = [this](input_line& l) {
        const bool sent = csp::select(csp::case_send(lines_, std::move(l)), csp::case_recv(stopping_)) == 0;
        l = input_line{};
        return sent;
    };
    char buf[65536];
    for (;;) {
        pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[1].revents != 0) break;  // stop()
        const ssize_t n = ::read(fd_, buf, sizeof buf);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) {  // end of input (or an error, which ends it too)
            if ((!cur.text.empty() || cur.too_long) && !hand_over(cur)) return;
            break;
        }
        for (ssize_t i = 0; i < n;) {
            const char* start = buf + i;
            const char* nl = static_cast<const char*>(std::memchr(start, '\n', static_cast<std::size_t>(n - i)));
            const std::size_t len = nl ? static_cast<std::size_t>(nl - start) : static_cast<std::size_t>(n - i);
            // Past the limit only the flag grows: a 10 MB line costs max_line bytes.
            const std::size_t room = cur.text.size() < max_line_ ? max_line_ - cur.text.size() : 0;
            cur.text.append(start, std::min(len, room));
            if (len > room) cur.too_long = true;
            i += static_cast<ssize_t>(len) + (nl ? 1 : 0);
            if (nl && !hand_over(cur)) return;
        }
    }
    lines_.close();
}

line_writer::line_writer(int fd) : fd_(fd), thread_([this] { run(); }) {}

line_writer::~line_writer() {
    close();
    thread_.join();
}

void line_writer::close() {
    if (closed_) return;
    closed_ = true;
    lines_.close();
}

void line_writer::run() {
    std::string batch;
    bool ok = true;
    for (;;) {
        csp::recv_result<std::string> line = lines_.recv_for(std::chrono::milliseconds(200));
        if (line.status == csp::chan_status::closed) break;
        if (line.status != csp::chan_status::ok) {
            // Idle: a pipe whose reader has gone reports POLLERR before any
            // write fails; notice it now, not at the next line (which may
            // never come while tasks run).
            pollfd p{fd_, 0, 0};
            if (ok && ::poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) {
                ok = false;
                broken_.close();
            }
            continue;
        }
        if (!ok) continue;  // stdout is gone: drain, so senders never block
        batch.clear();
        batch += *line;
        batch += '\n';
        // Whatever else is queued goes in the same write.
        while (batch.size() < (1 << 16)) {
            csp::recv_result<std::string> more = lines_.try_recv();
            if (more.status != csp::chan_status::ok) break;
            batch += *more;
            batch += '\n';
        }
        for (std::size_t done = 0; done < batch.size();) {
            const ssize_t w = ::write(fd_, batch.data() + done, batch.size() - done);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                ok = false;
                broken_.close();
                break;
            }
            done += static_cast<std::size_t>(w);
        }
    }
}

}  // namespace jobqueue
