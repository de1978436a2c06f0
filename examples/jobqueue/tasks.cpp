// The built-in tasks (see tasks.hpp).
#include "tasks.hpp"

#include <algorithm>
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

task_fn flaky_task(const json& args, unsigned attempt) {
    const auto failures = get_int(args, "failures", 0, 1000, 1, "args.");
    // A retry is a new delivery (maybe in another process): the store
    // counts the attempts, not this function.
    return [failures, attempt](const csp::context&) -> json {
        if (attempt <= failures)
            throw std::runtime_error("flaky: attempt " + std::to_string(attempt) + " of " +
                                     std::to_string(failures) + " failing");
        return {{"attempts", attempt}};
    };
}

constexpr const char* task_names[] = {"sleep", "spin", "fail", "echo", "flaky"};

}  // namespace

task_fn make_task(const std::string& name, const json& args, unsigned attempt) {
    if (name == "sleep") return sleep_task(args);
    if (name == "spin") return spin_task(args);
    if (name == "fail") return fail_task(args);
    if (name == "echo") return echo_task(args);
    if (name == "flaky") return flaky_task(args, attempt);
    throw request_error("unknown_task", "unknown task \"" + name.substr(0, 100) + "\" (sleep, spin, fail, echo, flaky)");
}

json task_payload(const json& args, const std::string& name, std::int64_t backoff_ms) {
    return {{"args", args}, {"name", name}, {"backoff_ms", backoff_ms}};
}

std::map<std::string, csp::task_handler> task_handlers() {
    std::map<std::string, csp::task_handler> all;
    for (const char* name : task_names)
        all[name] = [name = std::string(name)](const nlohmann::json& payload, const csp::context& ctx,
                                                  const csp::claimed_task& d) -> nlohmann::json {
            // The payload may come from another process or an older file:
            // checked again; a bad one fails the task with the message.
            const json p = payload;
            if (!p.is_object()) throw std::runtime_error("payload is not an object");
            task_fn fn;
            try {
                fn = make_task(name, get_object(p, "args"), d.attempt);
            } catch (const request_error& e) {
                throw std::runtime_error(std::string("bad payload: ") + e.what());
            }
            return nlohmann::json(fn(ctx));
        };
    return all;
}

std::chrono::steady_clock::duration retry_delay(const csp::claimed_task& t, unsigned retry) {
    std::int64_t base = 100;
    try {
        const auto p = nlohmann::json::parse(t.payload);
        if (p.is_object() && p.contains("backoff_ms") && p["backoff_ms"].is_number_integer())
            base = std::clamp<std::int64_t>(p["backoff_ms"].get<std::int64_t>(), 0, max_ms);
    } catch (const std::exception&) {
    }
    auto d = milliseconds(base);
    const auto cap = milliseconds(60'000);
    for (unsigned i = 1; i < retry && d < cap; ++i) d *= 2;
    return std::min<steady_clock::duration>(d, cap);
}

}  // namespace jobqueue
