#include <exception>
#include <future>

#include <fiber/go.hpp>

namespace csp {

void run(std::function<void()> main) {
    if (detail::in_goroutine()) {  // already on the runtime: just call it
        main();
        return;
    }
    std::promise<void> finished;
    std::future<void> result = finished.get_future();
    go([&main, &finished] {
        try {
            main();
            finished.set_value();
        } catch (...) {
            finished.set_exception(std::current_exception());
        }
    });
    result.get();
}

}  // namespace csp
