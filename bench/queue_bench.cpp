// queue_bench: the queue backends' side of bench/run.py's queue rows (the
// other side is BullMQ, bench/bullmq/bench.mjs, on the same redis-server):
//
//   queue_bench enqueue --url URL --jobs N             N no-op tasks, then exit
//   queue_bench work    --url URL --concurrency C --total N [--sync full]
//       runs tasks until the queue holds N final ones; prints
//       `ready_us,last_done_us,done` (wall-clock microseconds: run.py takes
//       the throughput of several such processes as total / (last - first))
//   queue_bench task_queue --url URL --concurrency C --total N [--prefetch P]
//       as work, through csp::task_queue (its pump, dispatcher workers and
//       store thread) with a "noop" handler: the whole stack
//   queue_bench latency --url URL --concurrency C --jobs N --rate R [--sync full]
//       one process submits N tasks at R per second while C workers run them;
//       prints `p50_us,p99_us` of submit -> start
//
// A worker process is what a task_queue does with a backend: one thread
// claims up to the number of idle workers (backpressure), C worker threads
// run the tasks (no-ops here) and complete them. Every backend call is on a
// plain thread (queue_backend.hpp, contract 1).
#include <dispatcher/queue_backend.hpp>
#include <dispatcher/task_queue.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

std::int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(csp::wall_clock::now().time_since_epoch()).count();
}

struct options {
    std::string mode, url;
    std::size_t jobs = 100000, concurrency = 16, total = 0, prefetch = 0;
    double rate = 1000;
    bool full_sync = false;
};

[[noreturn]] void usage() {
    std::fprintf(stderr,
                 "usage: queue_bench enqueue|work|latency --url URL [--jobs N] [--concurrency C] [--total N]"
                 " [--rate R] [--sync normal|full] [--prefetch P]\n");
    std::exit(2);
}

options parse(int argc, char** argv) {
    if (argc < 2) usage();
    options o;
    o.mode = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
        std::string k = argv[i], v = argv[i + 1];
        if (k == "--url") o.url = v;
        else if (k == "--jobs") o.jobs = std::stoul(v);
        else if (k == "--concurrency") o.concurrency = std::stoul(v);
        else if (k == "--prefetch") o.prefetch = std::stoul(v);
        else if (k == "--total") o.total = std::stoul(v);
        else if (k == "--rate") o.rate = std::stod(v);
        else if (k == "--sync") o.full_sync = v == "full";
        else usage();
    }
    if (o.url.empty() || o.concurrency == 0) usage();
    return o;
}

std::unique_ptr<csp::queue_backend> open(const options& o) {
    csp::backend_options b;
    b.sqlite_full_sync = o.full_sync;
    return csp::open_backend(o.url, b);
}

csp::task_spec noop(std::string payload = "{}") {
    csp::task_spec t;
    t.type = "noop";
    t.payload = std::move(payload);
    return t;
}

// Enqueues from several threads (each call is a round trip).
void enqueue(const options& o) {
    auto b = open(o);
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < 8; ++i)
        ts.emplace_back([&] {
            while (next.fetch_add(1) < o.jobs) b->enqueue(noop());
        });
    for (auto& t : ts) t.join();
}

// The claimer and C workers of one process. on_start sees each task as a
// worker starts it.
class pool {
public:
    pool(csp::queue_backend& b, std::size_t c, std::function<void(const csp::claimed_task&)> on_start)
        : b_(b), c_(c), on_start_(std::move(on_start)) {
        for (std::size_t i = 0; i < c_; ++i) workers_.emplace_back([this] { work(); });
        claimer_ = std::thread([this] { claim(); });
    }
    void stop() {
        stop_ = true;
        b_.interrupt();
        claimer_.join();
        {
            std::lock_guard lk(m_);
            closed_ = true;
        }
        cv_.notify_all();
        for (auto& w : workers_) w.join();
    }
    std::int64_t last_done_us() const { return last_done_.load(); }
    std::size_t done() const { return done_.load(); }

private:
    void claim() {
        while (!stop_) {
            std::size_t idle;
            {
                std::unique_lock lk(m_);
                // Backpressure: claim only for idle workers.
                cv_.wait(lk, [&] { return stop_ || ready_.size() + busy_ < c_; });
                idle = c_ - ready_.size() - busy_;
            }
            if (stop_) return;
            auto got = b_.claim(idle, 100ms);
            if (got.empty()) continue;
            {
                std::lock_guard lk(m_);
                for (auto& t : got) ready_.push_back(std::move(t));
            }
            cv_.notify_all();
        }
    }
    void work() {
        for (;;) {
            csp::claimed_task t;
            {
                std::unique_lock lk(m_);
                cv_.wait(lk, [&] { return closed_ || !ready_.empty(); });
                if (ready_.empty()) return;
                t = std::move(ready_.front());
                ready_.pop_front();
                ++busy_;
            }
            on_start_(t);
            csp::task_outcome ok;
            ok.result = "null";
            b_.complete(t, ok);
            last_done_ = now_us();
            ++done_;
            {
                std::lock_guard lk(m_);
                --busy_;
            }
            cv_.notify_all();
        }
    }

    csp::queue_backend& b_;
    const std::size_t c_;
    std::function<void(const csp::claimed_task&)> on_start_;
    std::mutex m_;
    std::condition_variable cv_;
    std::deque<csp::claimed_task> ready_;
    std::size_t busy_ = 0;
    bool closed_ = false;
    std::atomic<bool> stop_{false};
    std::atomic<std::int64_t> last_done_{0};
    std::atomic<std::size_t> done_{0};
    std::vector<std::thread> workers_;
    std::thread claimer_;
};

std::uint64_t finals(csp::queue_backend& b) {
    auto s = b.stats();
    return s.succeeded + s.failed + s.cancelled + s.timed_out;
}

void work(const options& o) {
    auto b = open(o);
    auto ready = now_us();
    pool p(*b, o.concurrency, [](const csp::claimed_task&) {});
    // The queue is shared with other processes: done when it holds `total`
    // final tasks (checked from this thread; the pool's threads run on).
    auto probe = open(o);
    while (finals(*probe) < o.total) std::this_thread::sleep_for(20ms);
    p.stop();
    std::printf("%lld,%lld,%zu\n", static_cast<long long>(ready), static_cast<long long>(p.last_done_us()), p.done());
}

void via_task_queue(const options& o) {
    auto probe = open(o);
    auto ready = now_us();
    csp::task_queue_options qo;
    qo.workers = o.concurrency;
    qo.prefetch = o.prefetch;
    qo.backend = open(o);
    csp::task_queue q(std::move(qo));
    q.handle("noop", [](const nlohmann::json&, const csp::context&) -> nlohmann::json { return nullptr; });
    // Done when the store holds `total` final tasks; last_done is when
    // that was seen (polled every 2 ms).
    while (finals(*probe) < o.total) std::this_thread::sleep_for(2ms);
    auto last = now_us();
    auto done = q.metrics().completed;
    q.shutdown();
    std::printf("%lld,%lld,%llu\n", static_cast<long long>(ready), static_cast<long long>(last),
                static_cast<unsigned long long>(done));
}

void latency(const options& o) {
    auto b = open(o);
    std::mutex m;
    std::vector<std::int64_t> lat;
    lat.reserve(o.jobs);
    pool p(*b, o.concurrency, [&](const csp::claimed_task& t) {
        auto at = now_us();
        auto sent = std::strtoll(t.payload.c_str() + std::strlen("{\"t\":"), nullptr, 10);
        std::lock_guard lk(m);
        lat.push_back(at - sent);
    });
    auto producer = open(o);
    auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < o.jobs; ++i) {
        // Paced submission (open loop): the i-th task at i / rate.
        std::this_thread::sleep_until(start + std::chrono::microseconds(static_cast<std::int64_t>(i * 1e6 / o.rate)));
        producer->enqueue(noop("{\"t\":" + std::to_string(now_us()) + "}"));
    }
    while (p.done() < o.jobs) std::this_thread::sleep_for(5ms);
    p.stop();
    std::sort(lat.begin(), lat.end());
    auto at = [&](double q) { return lat[std::min(lat.size() - 1, static_cast<std::size_t>(q * lat.size()))]; };
    std::printf("%lld,%lld\n", static_cast<long long>(at(0.50)), static_cast<long long>(at(0.99)));
}

}  // namespace

int main(int argc, char** argv) {
    auto o = parse(argc, argv);
    try {
        if (o.mode == "enqueue") enqueue(o);
        else if (o.mode == "work") work(o);
        else if (o.mode == "task_queue") via_task_queue(o);
        else if (o.mode == "latency") latency(o);
        else usage();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "queue_bench: %s\n", e.what());
        return 1;
    }
}
