// The Redis Streams queue backend (stub until its implementation lands).
#include <dispatcher/queue_backend.hpp>

#include <stdexcept>

namespace csp {

std::unique_ptr<queue_backend> make_redis_backend(const std::string&, int, const std::string&, const backend_options&) {
    throw std::runtime_error("make_redis_backend: not built yet");
}

}  // namespace csp
