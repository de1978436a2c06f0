// Goroutine dumps, deadlock detection (Go's checkdead) and the SIGQUIT hook.
#include <fiber/debug.hpp>

#include <cxxabi.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include <fiber/internal/goroutine.hpp>
#include <fiber/internal/sched.hpp>
#include <fiber/internal/runtime.hpp>

namespace csp::detail {

namespace {

std::atomic<std::size_t> blocked_threads{0};
// Bumped whenever a plain thread makes a goroutine runnable or is woken:
// a check that sees it change was looking at a moving picture.
std::atomic<std::uint64_t> outside_activity{0};
#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer's background thread, started with the first thread the
// runtime creates: known, and never sends on a channel.
constexpr std::size_t sanitizer_threads = 1;
#else
constexpr std::size_t sanitizer_threads = 0;
#endif
std::atomic<std::size_t> helper_threads{sanitizer_threads};
std::atomic<std::size_t> sigquit_dumps{0};

std::string demangle(const char* name) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> s(abi::__cxa_demangle(name, nullptr, nullptr, &status), std::free);
    return status == 0 && s ? std::string(s.get()) : std::string(name);
}

/// Threads of this process, from /proc/self/status.
std::size_t process_threads() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("Threads:", 0) == 0) return std::strtoul(line.c_str() + 8, nullptr, 10);
    return 0;
}

bool detection_enabled() {
    const char* e = std::getenv("CSP_DEADLOCK_DETECTION");
    return !(e && std::strcmp(e, "0") == 0);
}

}  // namespace

std::size_t blocked_plain_threads() noexcept { return blocked_threads.load(std::memory_order_acquire); }
std::size_t internal_threads() noexcept { return helper_threads.load(std::memory_order_acquire); }
void internal_threads_add(long delta) noexcept {
    helper_threads.fetch_add(static_cast<std::size_t>(delta), std::memory_order_acq_rel);
}

void blocked_threads_add(long delta) noexcept {
    if (delta < 0) outside_activity.fetch_add(1, std::memory_order_seq_cst);
    blocked_threads.fetch_add(static_cast<std::size_t>(delta), std::memory_order_seq_cst);
}

void note_outside_activity() noexcept { outside_activity.fetch_add(1, std::memory_order_seq_cst); }

void check_deadlock_if_idle() noexcept {
    runtime* rt = runtime::if_started();
    if (rt && rt->idle_forever.load(std::memory_order_acquire) == rt->size()) rt->check_deadlock();
}

void runtime::check_deadlock() noexcept {
    static const bool enabled = detection_enabled();
    if (!enabled) return;
    // Each condition alone can be stale by the time the next is read: a
    // plain thread may hand a goroutine work and block again in between. So
    // the whole check must see no such activity from start to end.
    const std::uint64_t activity = outside_activity.load(std::memory_order_seq_cst);
    if (!timers.empty() || goroutine::count() == 0) return;
    for (proc* p : all())
        if (!p->asleep_for_good()) return;
    // Every other thread must be blocked in a wait that only a goroutine
    // could end; an unknown thread might still send on a channel.
    if (process_threads() != size() + blocked_plain_threads() + internal_threads()) return;
    if (idle_forever.load(std::memory_order_seq_cst) != size()) return;
    for (proc* p : all())
        if (!p->asleep_for_good()) return;
    if (outside_activity.load(std::memory_order_seq_cst) != activity) return;
    std::string dump = csp::goroutine_dump();
    std::fprintf(stderr, "fatal error: all goroutines are asleep - deadlock!\n\n%s", dump.c_str());
    std::fflush(stderr);
    std::_Exit(2);
}

}  // namespace csp::detail

namespace csp {

std::vector<goroutine_state> goroutine_states() {
    struct raw {
        std::uint64_t id;
        detail::wait_reason reason;
        const void* object;
        const char* entry;
    };
    // Copied under the registry locks, formatted (allocations, demangling)
    // after they are dropped.
    std::vector<raw> raws;
    raws.reserve(detail::goroutine::count() + 16);
    detail::goroutine::for_each(
        [&raws](const detail::goroutine& g) { raws.push_back({g.id(), g.reason(), g.object(), g.entry()}); });
    std::sort(raws.begin(), raws.end(), [](const raw& a, const raw& b) { return a.id < b.id; });
    std::vector<goroutine_state> states;
    states.reserve(raws.size());
    for (const raw& r : raws)
        states.push_back({r.id, detail::to_string(r.reason), r.object, detail::demangle(r.entry)});
    return states;
}

std::size_t goroutines_waiting(std::string_view reason, const void* object) {
    std::size_t n = 0;
    detail::goroutine::for_each([&](const detail::goroutine& g) {
        if (g.reason() != detail::wait_reason::none && reason == detail::to_string(g.reason()) &&
            (!object || g.object() == object))
            ++n;
    });
    return n;
}

std::size_t threads_waiting() noexcept { return detail::blocked_plain_threads(); }

std::string goroutine_dump() {
    std::ostringstream out;
    for (const goroutine_state& g : goroutine_states()) {
        out << "goroutine " << g.id << " [" << g.wait_reason;
        if (g.object) out << " " << g.object;
        out << "]: " << g.entry << "\n";
    }
    if (detail::runtime* rt = detail::runtime::if_started()) out << rt->standin_report();
    return out.str();
}

std::size_t sigquit_dumps_printed() noexcept { return detail::sigquit_dumps.load(std::memory_order_acquire); }

void dump_goroutines_on_sigquit() {
    static std::once_flag once;
    std::call_once(once, [] {
        static int fds[2];
        if (::pipe(fds) != 0) return;
        static int write_end = fds[1];
        struct sigaction sa {};
        sa.sa_handler = [](int) {
            char c = 'q';
            (void)!::write(write_end, &c, 1);  // async-signal-safe: the thread does the rest
        };
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        detail::helper_threads.fetch_add(1, std::memory_order_acq_rel);
        std::thread([read_end = fds[0]] {
            char c;
            while (::read(read_end, &c, 1) == 1) {
                std::string d = goroutine_dump();
                std::fprintf(stderr, "SIGQUIT: goroutine dump\n%s\n", d.c_str());
                std::fflush(stderr);
                detail::sigquit_dumps.fetch_add(1, std::memory_order_release);
            }
        }).detach();
        ::sigaction(SIGQUIT, &sa, nullptr);
    });
}

}  // namespace csp
