// The in-process queue backend (stub until its implementation lands).
#include <dispatcher/queue_backend.hpp>

#include <stdexcept>

namespace csp {

std::unique_ptr<queue_backend> make_memory_backend(const backend_options&) {
    throw std::runtime_error("make_memory_backend: not built yet");
}

}  // namespace csp
