// A private redis-server for one test: on a free loopback port, in a fresh
// temporary directory (tmpfs if there is one; see temp_root), append-only
// file fsynced on every write, no RDB
// snapshots. Never a system service, never a fixed port; stopped (and its
// directory removed) by the destructor, so also when a test fails.
//
//   csp_test::redis_server r;                 // started, answers PING
//   auto b = csp::make_redis_backend("127.0.0.1", r.port(), "q");
//   r.kill();  r.start();                     // a crash, then a restart on the same AOF
//
// The port: bind 127.0.0.1:0 to learn a free one, close it, hand it to
// redis-server with --port; another process may take it in between, so a
// server that fails to start is retried on a new port (only the first start:
// a restart keeps its port, which the clients know).
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace csp_test {

class redis_server {
public:
    redis_server() {
        std::string tmpl = temp_root() + "/csp-redis-XXXXXX";
        if (!::mkdtemp(tmpl.data())) throw std::runtime_error("redis_server: mkdtemp failed in " + temp_root());
        dir_ = tmpl;
        for (int tries = 0;; ++tries) {
            port_ = free_port();
            if (try_start()) return;
            if (tries == 20) {
                std::filesystem::remove_all(dir_);
                throw std::runtime_error("redis_server: redis-server did not start (see " + dir_ + "/redis.log)");
            }
        }
    }
    ~redis_server() {
        stop();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    redis_server(const redis_server&) = delete;
    redis_server& operator=(const redis_server&) = delete;

    int port() const { return port_; }
    const std::string& dir() const { return dir_; }
    bool running() const { return pid_ > 0; }

    /// Starts it again on the same directory and port (its AOF is replayed).
    void start() {
        if (running()) return;
        for (int tries = 0; tries < 50; ++tries)
            if (try_start()) return;
        throw std::runtime_error("redis_server: restart on port " + std::to_string(port_) + " failed");
    }
    /// A clean stop: SHUTDOWN NOSAVE (the AOF holds everything), then kill.
    void stop() {
        if (!running()) return;
        if (redisContext* c = connect(std::chrono::milliseconds(500))) {
            redisReply* r = static_cast<redisReply*>(redisCommand(c, "SHUTDOWN NOSAVE"));
            if (r) freeReplyObject(r);
            redisFree(c);
        }
        reap(std::chrono::seconds(5));
    }
    /// A crash: SIGKILL, no goodbye. Every acknowledged write is in the AOF
    /// (appendfsync always).
    void kill() {
        if (!running()) return;
        ::kill(pid_, SIGKILL);
        reap(std::chrono::seconds(5));
    }

    /// A plain connection for checks (the caller frees it); null if none.
    redisContext* connect(std::chrono::milliseconds timeout = std::chrono::milliseconds(2000)) const {
        timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
        redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
        if (!c || c->err) {
            if (c) redisFree(c);
            return nullptr;
        }
        redisSetTimeout(c, tv);
        return c;
    }

private:
    // A fsync to this machine's disk takes milliseconds, and appendfsync
    // always makes every write wait for one: the AOF goes to tmpfs
    // (/dev/shm) when there is one. What the tests check -- a killed or
    // restarted server keeps every acknowledged write -- is the same: the
    // AOF is written before the reply, and a process's death does not drop
    // the page cache. CSP_REDIS_TMP overrides the place.
    static std::string temp_root() {
        if (const char* e = std::getenv("CSP_REDIS_TMP"); e && *e) return e;
        std::error_code ec;
        return std::filesystem::is_directory("/dev/shm", ec) ? "/dev/shm" : "/tmp";
    }

    static int free_port() {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = 0;
        socklen_t len = sizeof a;
        if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
            if (fd >= 0) ::close(fd);
            throw std::runtime_error("redis_server: no free loopback port");
        }
        ::close(fd);
        return ntohs(a.sin_port);
    }

    // Starts redis-server and waits until it answers PING; false if it
    // exited first (the port was taken) or never answered.
    bool try_start() {
        std::string port = std::to_string(port_);
        std::string log = dir_ + "/redis.log";
        std::vector<std::string> args{"redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", dir_,
                                      "--save", "", "--appendonly", "yes", "--appendfsync", "always",
                                      "--daemonize", "no", "--logfile", log, "--protected-mode", "no"};
        pid_t pid = ::fork();
        if (pid < 0) throw std::runtime_error("redis_server: fork failed");
        if (pid == 0) {
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execvp("redis-server", argv.data());
            ::_exit(127);
        }
        pid_ = pid;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: port taken, or no redis-server
                pid_ = 0;
                return false;
            }
            if (redisContext* c = connect(std::chrono::milliseconds(200))) {
                redisReply* r = static_cast<redisReply*>(redisCommand(c, "PING"));
                // LOADING (replaying the AOF) is an error reply: wait for PONG.
                bool up = r && r->type == REDIS_REPLY_STATUS;
                if (r) freeReplyObject(r);
                redisFree(c);
                if (up) return true;
            }
            // Polling a separate process's readiness: there is nothing to wait on.
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        ::kill(pid_, SIGKILL);
        reap(std::chrono::seconds(5));
        return false;
    }

    void reap(std::chrono::milliseconds patience) {
        auto deadline = std::chrono::steady_clock::now() + patience;
        int status = 0;
        while (::waitpid(pid_, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() >= deadline) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        pid_ = 0;
    }

    std::string dir_;
    int port_ = 0;
    pid_t pid_ = 0;
};

}  // namespace csp_test
