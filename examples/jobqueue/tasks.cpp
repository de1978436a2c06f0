// The built-in tasks (see tasks.hpp).
#include "tasks.hpp"

#include <chrono>
#include <cstdint>
#include <stdexcept>

#include <chan/select.hpp>
#include <chan/time.hpp>
#include <fiber/go.hpp>

namespace jobqueue {

namespace {

using namespace std::chrono;

task_fn sleep_task(const json& args) {
    const milliseconds ms(get_int(args, "ms", 0, max_ms, std::nullopt, "args."));
    return [ms](const csp::context& ctx) -> json {
        csp::select(csp::case_recv(ctx.done()), csp::case_recv(csp::after(ms)));
        return {{"slept_ms", ms.count()}};
    };
}

task_fn spin_task(const json& args) {
    const milliseconds ms(get_int(args, "ms", 0, max_ms, std::nullopt, "args."));
    return [ms](const csp::context& ctx) -> json {
        const auto end = steady_clock::now() + ms;
        std::uint64_t x = 1;
        for (auto now = steady_clock::now(); now < end; now = steady_clock::now()) {
            // About a millisecond of work, then a cancellation check and a
            // yield: nothing preempts a goroutine, so a spinning one lets
            // the others (and the dispatcher's loop) run by itself.
            const auto slice = std::min(end, now + 1ms);
            while (steady_clock::now() < slice)
                for (int i = 0; i < 1000; ++i) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            if (ctx.err() != csp::context_error::none) break;
            csp::yield();
        }
        return {{"spun_ms", ms.count()}, {"checksum", x & 0xffff}};
    };
}

task_fn fail_task(const json& args) {
    const std::string message = get_string(args, "message", "failed", "args.");
    return [message](const csp::context&) -> json { throw std::runtime_error(message); };
}

task_fn echo_task(const json& args) {
    const auto it = args.find("value");
    json value = it == args.end() ? json(nullptr) : *it;
    return [value](const csp::context&) -> json { return value; };
}

task_fn flaky_task(const json& args) {
    const auto failures = get_int(args, "failures", 0, 1000, 1, "args.");
    // The dispatcher runs the same function object again on a retry, one
    // attempt at a time (its channels order them), so it counts attempts.
    return [failures, attempt = std::int64_t{0}](const csp::context&) mutable -> json {
        if (++attempt <= failures)
            throw std::runtime_error("flaky: attempt " + std::to_string(attempt) + " of " +
                                     std::to_string(failures) + " failing");
        return {{"attempts", attempt}};
    };
}

}  // namespace

task_fn make_task(const std::string& name, const json& args) {
    if (name == "sleep") return sleep_task(args);
    if (name == "spin") return spin_task(args);
    if (name == "fail") return fail_task(args);
    if (name == "echo") return echo_task(args);
    if (name == "flaky") return flaky_task(args);
    throw request_error("unknown_task", "unknown task \"" + name.substr(0, 100) + "\" (sleep, spin, fail, echo, flaky)");
}

}  // namespace jobqueue
