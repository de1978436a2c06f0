// csp::redis::connection (see connection.hpp for the invariants).
#include <dispatcher/redis/connection.hpp>

#include <hiredis/hiredis.h>

#include <poll.h>

#include <algorithm>
#include <cerrno>

namespace csp::redis {

namespace {

constexpr std::chrono::milliseconds first_backoff{20};
constexpr std::chrono::milliseconds max_backoff{1000};

timeval to_timeval(std::chrono::milliseconds t) {
    return timeval{static_cast<time_t>(t.count() / 1000), static_cast<suseconds_t>(t.count() % 1000 * 1000)};
}

}  // namespace

void reply_free::operator()(redisReply* r) const noexcept { freeReplyObject(r); }

connection::connection(std::string host, int port, std::chrono::milliseconds io_timeout,
                       std::shared_ptr<std::atomic<std::uint64_t>> reached)
    : host_(std::move(host)),
      port_(port),
      name_("redis at " + host_ + ":" + std::to_string(port)),
      io_timeout_(io_timeout),
      reached_(reached ? std::move(reached) : std::make_shared<std::atomic<std::uint64_t>>(0)) {}

connection::~connection() {
    if (ctx_) redisFree(ctx_);
}

void connection::fail(const std::string& what) {
    last_error_ = what;
    if (ctx_) {
        redisFree(ctx_);
        ctx_ = nullptr;
    }
    throw std::runtime_error(name_ + ": " + what);
}

void connection::set_timeout(std::chrono::milliseconds t) {
    if (t == current_timeout_) return;
    redisSetTimeout(ctx_, to_timeval(t));
    current_timeout_ = t;
}

void connection::ensure() {
    if (ctx_) return;
    auto now = std::chrono::steady_clock::now();
    if (now < next_attempt_ && reached_->load() == reached_at_failure_)
        throw std::runtime_error(name_ + " is unavailable (reconnecting): " + last_error_);
    reached_at_failure_ = reached_->load();
    // The next attempt waits longer, until one succeeds.
    backoff_ = backoff_.count() == 0 ? first_backoff : std::min(backoff_ * 2, max_backoff);
    next_attempt_ = now + backoff_;
    redisContext* c = redisConnectWithTimeout(host_.c_str(), port_, to_timeval(io_timeout_));
    if (!c || c->err) {
        last_error_ = c ? c->errstr : "out of memory";
        if (c) redisFree(c);
        throw std::runtime_error(name_ + " is unavailable: " + last_error_);
    }
    ctx_ = c;
    current_timeout_ = std::chrono::milliseconds(-1);
    set_timeout(io_timeout_);
    redisEnableKeepAlive(ctx_);
    auto* r = static_cast<redisReply*>(redisCommand(ctx_, "CLIENT ID"));
    if (!r) fail(std::string("CLIENT ID: ") + ctx_->errstr);
    client_id_ = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    ++generation_;
    reached_->fetch_add(1);
    backoff_ = std::chrono::milliseconds(0);
    next_attempt_ = {};
}

reply connection::exchange(const std::vector<std::string>& argv, bool send, bool read) {
    if (send && ctx_) {
        // Nothing is owed on a connection between commands: readable means
        // the server closed it (it restarted). Re-make it before sending, so
        // the command surely reaches the live server, not a dead socket.
        pollfd p{ctx_->fd, POLLIN, 0};
        if (::poll(&p, 1, 0) > 0) {
            redisFree(ctx_);
            ctx_ = nullptr;
        }
    }
    ensure();
    if (send) {
        std::vector<const char*> ptrs;
        std::vector<size_t> lens;
        ptrs.reserve(argv.size());
        lens.reserve(argv.size());
        for (const auto& a : argv) {
            ptrs.push_back(a.data());
            lens.push_back(a.size());
        }
        if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), ptrs.data(), lens.data()) != REDIS_OK)
            fail(std::string("sending ") + (argv.empty() ? "" : argv[0]) + ": " + ctx_->errstr);
    }
    if (!read) return nullptr;
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || !raw) {
        bool timed_out = ctx_->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
        fail((send ? std::string(argv.empty() ? "" : argv[0]) + ": " : std::string("reading: ")) +
             (timed_out ? "no reply in time" : std::string(ctx_->errstr)));
    }
    reply r(static_cast<redisReply*>(raw));
    if (r->type == REDIS_REPLY_ERROR) throw server_error(name_ + ": " + std::string(r->str, r->len));
    return r;
}

reply connection::command(const std::vector<std::string>& argv) {
    if (ctx_) set_timeout(io_timeout_);
    return exchange(argv, true);
}

reply connection::command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
    ensure();
    set_timeout(timeout);
    return exchange(argv, true);
}

void connection::drop() {
    if (ctx_) redisFree(ctx_);
    ctx_ = nullptr;
}

void connection::send(const std::vector<std::string>& argv) {
    if (ctx_) set_timeout(io_timeout_);
    exchange(argv, true, false);
    int done = 0;
    while (!done)
        if (redisBufferWrite(ctx_, &done) != REDIS_OK) fail(std::string("sending: ") + ctx_->errstr);
}

reply connection::next_push(std::chrono::milliseconds wait) {
    ensure();
    // A reply hiredis already read and buffered first: poll() would not see it.
    void* raw = nullptr;
    if (redisReaderGetReply(ctx_->reader, &raw) != REDIS_OK) fail("reading: malformed reply");
    if (raw) return reply(static_cast<redisReply*>(raw));
    // Wait without a socket timeout: hiredis treats a timed-out read as a
    // broken connection.
    pollfd p{ctx_->fd, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(wait.count()));
    if (ready == 0 || (ready < 0 && errno == EINTR)) return nullptr;
    return exchange({}, false);
}

}  // namespace csp::redis
