#include <exception>

#include <fiber/detail/parker.hpp>
#include <fiber/go.hpp>

namespace csp {

void run(std::function<void()> main) {
    if (detail::in_goroutine()) {  // already on the runtime: just call it
        main();
        return;
    }
    // The caller blocks on a parker the main goroutine claims when it ends,
    // so deadlock detection counts the caller as waiting for goroutines.
    detail::parker finished;
    std::exception_ptr error;
    go([&main, &finished, &error] {
        try {
            main();
        } catch (...) {
            error = std::current_exception();
        }
        if (finished.try_claim(1)) finished.wake();
    });
    finished.park([] {});
    if (error) std::rethrow_exception(error);
}

}  // namespace csp
