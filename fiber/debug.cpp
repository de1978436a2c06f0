// Goroutine dumps, deadlock detection (Go's checkdead) and the SIGQUIT hook.
#include <fiber/debug.hpp>

#include <cxxabi.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
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

#include <fiber/internal/deadlock.hpp>
#include <fiber/internal/goroutine.hpp>
#include <fiber/internal/sched.hpp>
#include <fiber/internal/runtime.hpp>

namespace csp::detail {

namespace {

std::atomic<std::size_t> blocked_threads{0};
// Bumped whenever a plain thread makes a goroutine runnable, blocks or is woken:
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
std::atomic<long> never_waits{0};
std::atomic<std::size_t> deferred_checks{0};

std::string demangle(const char* name) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> s(abi::__cxa_demangle(name, nullptr, nullptr, &status), std::free);
    return status == 0 && s ? std::string(s.get()) : std::string(name);
}

/// The symbol of the function at `address`, from the symbol table of the
/// file it was loaded from (.symtab, so functions the program does not
/// export are found too; .dynsym when the file is stripped). Empty if
/// unknown.
std::string symbol_of(const void* address) {
    struct where {
        std::uintptr_t address;
        std::string file;
        std::uintptr_t bias = 0;
        bool found = false;
    } w{reinterpret_cast<std::uintptr_t>(address), {}};
    ::dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void* arg) {
            auto& w = *static_cast<where*>(arg);
            for (int i = 0; i < info->dlpi_phnum; ++i) {
                const ElfW(Phdr)& ph = info->dlpi_phdr[i];
                const std::uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
                if (ph.p_type != PT_LOAD || w.address < lo || w.address >= lo + ph.p_memsz) continue;
                w.file = info->dlpi_name && *info->dlpi_name ? info->dlpi_name : "/proc/self/exe";
                w.bias = info->dlpi_addr;
                w.found = true;
                return 1;
            }
            return 0;
        },
        &w);
    if (!w.found) return {};
    const int fd = ::open(w.file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};
    struct stat st {};
    void* map = ::fstat(fd, &st) == 0 && st.st_size > 0
                    ? ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0)
                    : MAP_FAILED;
    ::close(fd);
    if (map == MAP_FAILED) return {};
    const auto* base = static_cast<const unsigned char*>(map);
    const auto size = static_cast<std::size_t>(st.st_size);
    std::string name;
    const auto* eh = reinterpret_cast<const ElfW(Ehdr)*>(base);
    if (size >= sizeof(ElfW(Ehdr)) && std::memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 &&
        eh->e_shoff + std::size_t{eh->e_shnum} * sizeof(ElfW(Shdr)) <= size) {
        const auto* sh = reinterpret_cast<const ElfW(Shdr)*>(base + eh->e_shoff);
        const std::uintptr_t target = w.address - w.bias;
        for (std::uint32_t want : {std::uint32_t{SHT_SYMTAB}, std::uint32_t{SHT_DYNSYM}}) {
            for (std::size_t i = 0; i < eh->e_shnum && name.empty(); ++i) {
                if (sh[i].sh_type != want || sh[i].sh_link >= eh->e_shnum) continue;
                const ElfW(Shdr)& strtab = sh[sh[i].sh_link];
                if (sh[i].sh_offset + sh[i].sh_size > size || strtab.sh_offset + strtab.sh_size > size) continue;
                const auto* syms = reinterpret_cast<const ElfW(Sym)*>(base + sh[i].sh_offset);
                const std::size_t n = sh[i].sh_size / sizeof(ElfW(Sym));
                for (std::size_t k = 0; k < n; ++k) {
                    const ElfW(Sym)& sym = syms[k];
                    if (ELF64_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_name >= strtab.sh_size) continue;
                    if (target < sym.st_value || target >= sym.st_value + std::max<std::uint64_t>(sym.st_size, 1)) continue;
                    name = reinterpret_cast<const char*>(base + strtab.sh_offset + sym.st_name);
                    break;
                }
            }
            if (!name.empty()) break;
        }
    }
    ::munmap(map, size);
    return name.empty() ? name : demangle(name.c_str());
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

void internal_thread_started() noexcept {
    internal_threads_add(1);
    note_outside_activity();  // a check under way saw a moving picture
    check_deadlock_if_idle();
}

void blocked_threads_add(long delta) noexcept {
    // Either way is activity. A thread that blocks in the middle of a check
    // may be one the check did not count among the process's threads yet (it
    // was started after the count was read): the check must not take it for
    // one of the threads it saw.
    outside_activity.fetch_add(1, std::memory_order_seq_cst);
    blocked_threads.fetch_add(static_cast<std::size_t>(delta), std::memory_order_seq_cst);
}

void note_outside_activity() noexcept { outside_activity.fetch_add(1, std::memory_order_seq_cst); }

void never_waits_add(long delta) noexcept { never_waits.fetch_add(delta, std::memory_order_seq_cst); }

namespace {

[[noreturn]] void report_deadlock() noexcept {
    std::string dump = csp::goroutine_dump();
    if (dump.empty()) dump = "(no goroutines: every thread is blocked in a cspfiber wait)\n";
    std::fprintf(stderr, "fatal error: all goroutines are asleep - deadlock!\n\n%s", dump.c_str());
    std::fflush(stderr);
    std::_Exit(2);
}

/// No runtime, so no goroutine and no timer: plain threads deadlock once
/// every thread of the process is blocked in a cspfiber wait with no
/// deadline (Go's main blocked on a channel with no goroutine at all).
void check_deadlock_without_runtime() noexcept {
    static const bool enabled = detection_enabled();
    if (!enabled) return;
    const std::uint64_t activity = outside_activity.load(std::memory_order_seq_cst);
    const std::size_t threads = process_threads();
    // A lone thread: ThreadSanitizer's background thread starts with the
    // second thread of the process, so it is not there yet.
    const std::size_t others = threads == 1 ? internal_threads() - sanitizer_threads : internal_threads();
    if (threads != blocked_plain_threads() + others) return;
    if (never_waits.load(std::memory_order_seq_cst) > 0) {
        deferred_checks.fetch_add(1, std::memory_order_release);
        return;
    }
    // Whoever starts the runtime now is a thread that runs: not all blocked.
    if (runtime::if_started() || outside_activity.load(std::memory_order_seq_cst) != activity) return;
    report_deadlock();
}

}  // namespace

void check_deadlock_if_idle() noexcept {
    runtime* rt = runtime::if_started();
    if (!rt) check_deadlock_without_runtime();
    else if (rt->idle_forever.load(std::memory_order_acquire) == rt->size()) rt->check_deadlock();
}

void runtime::check_deadlock() noexcept {
    static const bool enabled = detection_enabled();
    if (!enabled) return;
    // Each condition alone can be stale by the time the next is read: a
    // plain thread may hand a goroutine work and block again in between. So
    // the whole check must see no such activity from start to end.
    const std::uint64_t activity = outside_activity.load(std::memory_order_seq_cst);
    for (proc* p : all())
        if (!p->asleep_for_good()) return;
    // Every other thread must be blocked in a wait that only a goroutine
    // could end; an unknown thread might still send on a channel. (Sound
    // only if no thread is counted before it exists: a running thread could
    // pass for it. So internal threads count themselves: internal_thread_started.)
    if (process_threads() != size() + blocked_plain_threads() + internal_threads()) return;
    if (idle_forever.load(std::memory_order_seq_cst) != size()) return;
    for (proc* p : all())
        if (!p->asleep_for_good()) return;
    if (outside_activity.load(std::memory_order_seq_cst) != activity) return;
    // Everyone is blocked; a timer, or a wait until "never" (Go gives it a
    // timer), still counts as something that may happen.
    if (!timers.empty() || never_waits.load(std::memory_order_seq_cst) > 0) {
        deferred_checks.fetch_add(1, std::memory_order_release);
        return;
    }
    report_deadlock();
}

}  // namespace csp::detail

namespace csp {

std::vector<goroutine_state> goroutine_states() {
    struct raw {
        std::uint64_t id;
        detail::wait_reason reason;
        const void* object;
        const char* entry;
        const void* function;
        bool is_main;
    };
    // Copied under the registry locks, formatted (allocations, demangling,
    // symbol look-ups) after they are dropped.
    std::vector<raw> raws;
    raws.reserve(detail::goroutine::count() + 16);
    detail::goroutine::for_each([&raws](const detail::goroutine::snapshot& g) {
        raws.push_back({g.id, g.reason, g.object, g.entry, g.function, g.is_main});
    });
    std::sort(raws.begin(), raws.end(), [](const raw& a, const raw& b) { return a.id < b.id; });
    const detail::goroutine* self = detail::current_goroutine().g;
    const std::uint64_t self_id = self ? self->id() : 0;
    std::vector<goroutine_state> states;
    states.reserve(raws.size());
    for (const raw& r : raws) {
        std::string entry;
        if (r.is_main) entry = "main (the function csp::run runs)";
        else if (r.function) entry = detail::symbol_of(r.function);
        if (entry.empty()) entry = detail::demangle(r.entry);
        const char* reason = r.id == self_id ? "running" : detail::to_string(r.reason);
        states.push_back({r.id, reason, r.object, std::move(entry)});
    }
    return states;
}

std::size_t goroutines_waiting(std::string_view reason, const void* object) {
    std::size_t n = 0;
    detail::goroutine::for_each([&](const detail::goroutine::snapshot& g) {
        if (g.reason != detail::wait_reason::none && reason == detail::to_string(g.reason) &&
            (!object || g.object == object))
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

std::size_t deadlock_checks_deferred() noexcept { return detail::deferred_checks.load(std::memory_order_acquire); }

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
        std::thread([read_end = fds[0]] {
            detail::internal_thread_started();  // not before: see runtime::runtime
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
