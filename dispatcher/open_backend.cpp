// open_backend: a queue backend from its URL ("memory", "sqlite:PATH",
// "redis://HOST:PORT/NAME").
#include <dispatcher/queue_backend.hpp>

#include <stdexcept>
#include <string>

namespace csp {

namespace {

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// "redis://HOST:PORT/NAME", PORT and NAME optional (6379, "default").
std::unique_ptr<queue_backend> open_redis(const std::string& url, const backend_options& o) {
    std::string rest = url.substr(std::string("redis://").size());
    std::string queue = "default";
    if (auto slash = rest.find('/'); slash != std::string::npos) {
        queue = rest.substr(slash + 1);
        rest.resize(slash);
    }
    std::string host = rest;
    int port = 6379;
    if (auto colon = rest.rfind(':'); colon != std::string::npos) {
        host = rest.substr(0, colon);
        try {
            std::size_t used = 0;
            port = std::stoi(rest.substr(colon + 1), &used);
            if (used != rest.size() - colon - 1 || port <= 0 || port > 65535) throw std::out_of_range("port");
        } catch (const std::exception&) {
            throw std::invalid_argument("open_backend: bad port in " + url);
        }
    }
    if (host.empty() || queue.empty()) throw std::invalid_argument("open_backend: expected redis://HOST:PORT/NAME, got " + url);
    return make_redis_backend(host, port, queue, o);
}

}  // namespace

std::unique_ptr<queue_backend> open_backend(const std::string& url, const backend_options& o) {
    if (url == "memory") return make_memory_backend(o);
    if (starts_with(url, "sqlite:")) {
        std::string path = url.substr(std::string("sqlite:").size());
        if (path.empty()) throw std::invalid_argument("open_backend: expected sqlite:PATH, got " + url);
        return make_sqlite_backend(path, o);
    }
    if (starts_with(url, "redis://")) return open_redis(url, o);
    throw std::invalid_argument("open_backend: unknown store '" + url +
                                "' (expected memory, sqlite:PATH or redis://HOST:PORT/NAME)");
}

}  // namespace csp
