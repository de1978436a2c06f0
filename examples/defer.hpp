// Go's `defer f()` for the examples: runs f when the scope ends, however it
// ends (return, exception).
//
//   csp::go([out] {
//       examples::defer close_out([&] { out.close(); });   // defer close(out)
//       ...
//   });
#pragma once
#include <utility>

namespace examples {

template <class F>
class defer {
public:
    explicit defer(F f) : f_(std::move(f)) {}
    defer(const defer&) = delete;
    defer& operator=(const defer&) = delete;
    ~defer() { f_(); }

private:
    F f_;
};

}  // namespace examples
