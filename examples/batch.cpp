// Port of batch.hs (seed 002): concurrent batch processing of the rows of
// a database. The books of one publisher are read from SQLite; each is
// processed by a worker goroutine (slow I/O, simulated by a sleep), at
// most --workers at once; a logger goroutine keeps the output sane; a
// status line every second; done when every row is processed. Each
// worker's result (the book's preview) is written back to the database.
//
//   batch [previews PUBLISHER_ID] [--db books.db] [--workers 20] [--fast | --speedup N]
//
// SQLite's calls block, so they never run on a scheduler thread: the
// database lives on a plain std::thread of its own, which serves requests
// arriving on a channel (a channel blocks a plain thread, and parks a
// goroutine). The database is created and filled if absent; only books
// without a preview are processed, so a second run has nothing to do.
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <chan/chan.hpp>
#include <fiber/go.hpp>
#include <fiber/sleep.hpp>

#include "example.hpp"

using namespace std::chrono_literals;

//------------------------------------------------------------------------------
// logging service (from Parallel and Concurrent Programming in Haskell)
//------------------------------------------------------------------------------

struct message {  // Message String
    std::string text;
};
struct stop {  // Stop (MVar ())
    csp::chan<csp::unit> s;
};
using log_command = std::variant<message, stop>;

struct logger {  // Logger (MVar LogCommand): an MVar is a channel of one slot
    csp::chan<log_command> m{1};
};

void logger_loop(logger l) {
    for (;;) {
        log_command cmd = *l.m.recv();  // never closed
        if (auto* msg = std::get_if<message>(&cmd)) {
            std::printf("%s\n", msg->text.c_str());
        } else {
            std::printf("logger: stop\n");
            std::get<stop>(cmd).s.send(csp::unit{});
            return;
        }
    }
}

logger init_logger() {
    logger l;
    csp::go(logger_loop, l);
    return l;
}

void log_message(const logger& l, std::string s) { l.m.send(message{std::move(s)}); }

void log_stop(const logger& l) {
    csp::chan<csp::unit> s(1);
    l.m.send(stop{s});
    s.recv();
}

//------------------------------------------------------------------------------
// data: the database, on a plain thread of its own
//------------------------------------------------------------------------------

struct book {  // BookId, with the title the worker needs
    long long id;
    std::string title;
};

struct query_books {  // select id, title from books where publisher_id = ? (and not yet done)
    long long publisher_id;
    csp::chan<std::vector<book>> reply;
};
struct write_preview {  // a worker's result
    long long id;
    std::string preview;
};
struct read_back {  // what the run left in the database
    long long publisher_id;
    csp::chan<std::vector<long long>> reply;
};
using db_request = std::variant<query_books, write_preview, read_back>;

class database {
public:
    database(const std::string& path, int books, int publishers) {
        check(sqlite3_open(path.c_str(), &db_), "open");
        exec("PRAGMA journal_mode=WAL");
        exec("PRAGMA synchronous=NORMAL");
        exec("CREATE TABLE IF NOT EXISTS books (id INTEGER PRIMARY KEY, publisher_id INTEGER NOT NULL,"
             " title TEXT NOT NULL, preview TEXT, processed INTEGER NOT NULL DEFAULT 0)");
        if (count("SELECT count(*) FROM books") == 0) {
            exec("BEGIN");
            for (int i = 1; i <= books; ++i)
                exec("INSERT INTO books (id, publisher_id, title) VALUES (" + std::to_string(i) + ", " +
                     std::to_string(1 + i % publishers) + ", 'Book " + std::to_string(i) + "')");
            exec("COMMIT");
            created_ = true;
        }
    }
    ~database() { sqlite3_close(db_); }
    database(const database&) = delete;
    database& operator=(const database&) = delete;

    bool created() const { return created_; }

    /// Serves requests until the channel is closed (runs on the database's thread).
    void serve(csp::recv_chan<db_request> requests) {
        for (db_request req : requests) {
            if (auto* q = std::get_if<query_books>(&req)) {
                q->reply.send(books_of(q->publisher_id));
            } else if (auto* w = std::get_if<write_preview>(&req)) {
                write(*w);
            } else {
                auto& r = std::get<read_back>(req);
                r.reply.send(summary(r.publisher_id));
            }
        }
    }

private:
    class statement {
    public:
        statement(sqlite3* db, const char* sql) : db_(db) {
            if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK) fail(db, sql);
        }
        ~statement() { sqlite3_finalize(s_); }
        statement(const statement&) = delete;
        statement& operator=(const statement&) = delete;
        void bind(int i, long long v) { sqlite3_bind_int64(s_, i, v); }
        void bind(int i, const std::string& v) { sqlite3_bind_text(s_, i, v.c_str(), -1, SQLITE_TRANSIENT); }
        bool step() {  // true: a row is ready
            const int rc = sqlite3_step(s_);
            if (rc != SQLITE_ROW && rc != SQLITE_DONE) fail(db_, "step");
            return rc == SQLITE_ROW;
        }
        long long integer(int col) { return sqlite3_column_int64(s_, col); }
        std::string text(int col) { return reinterpret_cast<const char*>(sqlite3_column_text(s_, col)); }

    private:
        sqlite3* db_;
        sqlite3_stmt* s_ = nullptr;
    };

    [[noreturn]] static void fail(sqlite3* db, const std::string& what) {
        throw std::runtime_error("sqlite: " + what + ": " + sqlite3_errmsg(db));
    }
    void check(int rc, const char* what) {
        if (rc != SQLITE_OK) fail(db_, what);
    }
    void exec(const std::string& sql) { check(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr), "exec"); }
    long long count(const char* sql) {
        statement s(db_, sql);
        s.step();
        return s.integer(0);
    }

    // All the ids at once, as the original does: a reader must not hold the
    // table while slow consumers run.
    std::vector<book> books_of(long long publisher_id) {
        statement s(db_, "SELECT id, title FROM books WHERE publisher_id = ? AND preview IS NULL ORDER BY id");
        s.bind(1, publisher_id);
        std::vector<book> out;
        while (s.step()) out.push_back(book{s.integer(0), s.text(1)});
        return out;
    }

    void write(const write_preview& w) {
        statement s(db_, "UPDATE books SET preview = ?, processed = processed + 1 WHERE id = ?");
        s.bind(1, w.preview);
        s.bind(2, w.id);
        s.step();
    }

    // {books of the publisher, processed exactly once, processed more than
    // once, with the right preview, books of any publisher processed twice}
    std::vector<long long> summary(long long publisher_id) {
        statement s(db_,
                    "SELECT count(*), coalesce(sum(processed = 1), 0), coalesce(sum(processed > 1), 0),"
                    " coalesce(sum(preview = 'preview of ' || title), 0) FROM books WHERE publisher_id = ?");
        s.bind(1, publisher_id);
        s.step();
        std::vector<long long> out{s.integer(0), s.integer(1), s.integer(2), s.integer(3)};
        out.push_back(count("SELECT count(*) FROM books WHERE processed > 1"));
        return out;
    }

    sqlite3* db_ = nullptr;
    bool created_ = false;
};

//------------------------------------------------------------------------------
// workers
//------------------------------------------------------------------------------

struct batch {
    logger log;
    std::atomic<int> tasks{0};                 // TVar Int
    csp::chan<csp::unit> done{1};              // TMVar (): empty or full
    csp::chan<csp::unit> slots;                // one value per running worker: the bound
    csp::send_chan<db_request> db;
    examples::time_scale scaled;

    batch(logger l, int workers, csp::send_chan<db_request> d, examples::time_scale s)
        : log(std::move(l)), slots(workers), db(std::move(d)), scaled(s) {}

    void inc_tasks() { tasks.fetch_add(1); }
    void dec_tasks() {
        // Whoever brings the count to 0 fills donemv (tryPutTMVar). The
        // handle is copied first: once donemv is full, main may end the batch.
        csp::chan<csp::unit> donemv = done;
        if (tasks.fetch_sub(1) - 1 < 1) donemv.try_send(csp::unit{});
    }
};

void worker_thread(batch& b, const book& bk) {
    std::minstd_rand rng(static_cast<unsigned>(bk.id));
    const int x = 5 + static_cast<int>(rng() % 6);  // randomRIO (5, 10)
    // simulate a long running process
    csp::sleep_for(b.scaled(std::chrono::seconds(x)));
    b.db.send(write_preview{bk.id, "preview of " + bk.title});
    log_message(b.log, "finished book id: " + std::to_string(bk.id));
}

void spawn_worker(batch& b, book bk) {
    b.slots.send(csp::unit{});  // waits while --workers workers run
    b.inc_tasks();              // counted before the worker exists (see batch.hs)
    csp::go([&b, bk] {
        worker_thread(b, bk);
        b.slots.recv();
        b.dec_tasks();
    });
}

void run_previews(long long publisher_id, int workers, csp::send_chan<db_request> db, examples::time_scale scaled) {
    batch b(init_logger(), workers, db, scaled);
    b.inc_tasks();  // the query's own count, until every row is spawned
    csp::chan<std::vector<book>> rows(1);
    db.send(query_books{publisher_id, rows});
    // forEach: all rows at once; spawned by a goroutine of their own, which
    // waits for free slots while the status loop below runs.
    csp::go([&b, books = *rows.recv()]() mutable {
        for (book& bk : books) spawn_worker(b, std::move(bk));
        b.dec_tasks();  // every row is spawned
    });

    auto yep_nope = [](bool d) { return d ? "Yep" : "Nope"; };
    for (;;) {
        const bool done = b.done.try_recv().status == csp::chan_status::ok;  // tryTakeTMVar
        const int tasks = b.tasks.load();
        log_message(b.log, std::string("done = ") + yep_nope(done) + "\ttasks = " + std::to_string(tasks));
        if (done) break;
        csp::sleep_for(scaled(1s));
    }
    log_stop(b.log);
}

int main(int argc, char** argv) {
    const std::string path = examples::flag_value(argc, argv, "--db", "books.db");
    const long long publisher_id = std::atoll(examples::flag_value(argc, argv, "previews", "3").c_str());
    const int workers = std::atoi(examples::flag_value(argc, argv, "--workers", "20").c_str());
    const examples::time_scale scaled(argc, argv);
    constexpr int num_books = 500, num_publishers = 5;

    database db(path, num_books, num_publishers);
    std::printf("database %s: %s\n", db.created() ? "created with 500 books" : "opened", path.c_str());
    csp::chan<db_request> requests;
    std::thread db_thread([&] { db.serve(requests); });  // every SQLite call from here on runs there

    std::vector<long long> result;
    csp::run([&] {
        run_previews(publisher_id, workers, requests, scaled);
        // Every worker's write was sent before its task was counted off, and
        // the database serves requests in order: this reads them all back.
        csp::chan<std::vector<long long>> reply(1);
        requests.send(read_back{publisher_id, reply});
        result = *reply.recv();
        requests.close();
    });
    db_thread.join();

    const long long books = result[0], once = result[1], twice = result[2], right = result[3], any_twice = result[4];
    std::printf("read back: %lld books of publisher %lld, %lld processed exactly once, %lld more than once\n",
                books, publisher_id, once, twice);
    std::printf("read back: %lld previews written, %lld books in the database processed twice\n", right, any_twice);
    examples::check(once == books && twice == 0 && any_twice == 0, "a book was processed twice, or never");
    examples::check(right == books, "a preview is missing or wrong");
}
