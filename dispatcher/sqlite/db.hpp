// A thin RAII layer over the SQLite C API for the SQLite queue backend: a
// connection that throws std::runtime_error naming the file on any error,
// prepared statements bound by position, and a transaction guard.
#pragma once

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

namespace csp::sqlite {

class db {
public:
    explicit db(const std::string& path) : path_(path) {
        const int rc = sqlite3_open_v2(path.c_str(), &h_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                       nullptr);
        if (rc != SQLITE_OK) {
            std::string why = h_ ? sqlite3_errmsg(h_) : sqlite3_errstr(rc);
            sqlite3_close(h_);
            throw std::runtime_error("sqlite store " + path + ": cannot open: " + why);
        }
    }
    ~db() { sqlite3_close(h_); }
    db(const db&) = delete;
    db& operator=(const db&) = delete;

    sqlite3* handle() const { return h_; }
    const std::string& path() const { return path_; }

    /// Resets every statement still on a row (a RETURNING or a probe read
    /// once). One left on a row keeps a read transaction open: a later
    /// BEGIN IMMEDIATE would find its snapshot stale and fail at once
    /// (SQLITE_BUSY_SNAPSHOT, no busy wait), and COMMIT would refuse.
    void settle() const {
        for (sqlite3_stmt* s = sqlite3_next_stmt(h_, nullptr); s; s = sqlite3_next_stmt(h_, s))
            if (sqlite3_stmt_busy(s)) sqlite3_reset(s);
    }
    [[noreturn]] void fail(const std::string& what) const {
        throw std::runtime_error("sqlite store " + path_ + ": " + what + ": " + sqlite3_errmsg(h_));
    }
    void exec(const char* sql) const {
        std::string why;
        if (try_exec(sql, why) != SQLITE_OK) throw_in(sql, why);
    }
    /// exec(), tried again while the file is locked in a way SQLite does not
    /// wait for (SQLITE_BUSY at once, bypassing busy_timeout: switching a
    /// new file to WAL needs it alone while another process opens it too;
    /// a connection holding a read lock that wants the write lock; WAL
    /// recovery), for up to `patience`. Only for a statement outside a
    /// transaction (a failed try is rolled back).
    void exec_patiently(const char* sql, std::chrono::milliseconds patience) const {
        const auto deadline = std::chrono::steady_clock::now() + patience;
        auto pause = std::chrono::microseconds(200);
        for (;;) {
            std::string why;
            const int rc = try_exec(sql, why);
            if (rc == SQLITE_OK) return;
            // Several statements in one call may stop inside the transaction
            // they began: end it so a try starts clean.
            if (!sqlite3_get_autocommit(h_)) sqlite3_exec(h_, "ROLLBACK", nullptr, nullptr, nullptr);
            const bool busy = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
            if (!busy || std::chrono::steady_clock::now() >= deadline) throw_in(sql, why);
            std::this_thread::sleep_for(pause);  // a backoff between tries, not a synchronization
            pause = std::min(pause * 2, std::chrono::microseconds(20000));
        }
    }

private:
    int try_exec(const char* sql, std::string& why) const {
        char* err = nullptr;
        const int rc = sqlite3_exec(h_, sql, nullptr, nullptr, &err);
        if (rc != SQLITE_OK) {
            why = err ? err : sqlite3_errmsg(h_);
            sqlite3_free(err);
        }
        return rc;
    }
    [[noreturn]] void throw_in(const char* sql, const std::string& why) const {
        throw std::runtime_error("sqlite store " + path_ + ": " + why + " (in: " + std::string(sql).substr(0, 60) + ")");
    }

    std::string path_;
    sqlite3* h_ = nullptr;
};

/// A prepared statement, reset (and its bindings cleared) before each use.
class stmt {
public:
    stmt(const db& d, const char* sql) : db_(&d) {
        if (sqlite3_prepare_v3(d.handle(), sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr) != SQLITE_OK)
            d.fail(std::string("cannot prepare ") + std::string(sql).substr(0, 60));
    }
    ~stmt() { sqlite3_finalize(s_); }
    stmt(const stmt&) = delete;
    stmt& operator=(const stmt&) = delete;

    /// Starts a use: reset, then bind the arguments to ?1, ?2, ...
    template <class... A>
    stmt& use(const A&... args) {
        sqlite3_reset(s_);
        sqlite3_clear_bindings(s_);
        int i = 0;
        (bind(++i, args), ...);
        return *this;
    }
    /// Steps: true while a row is there.
    bool step() {
        const int rc = sqlite3_step(s_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        db_->fail("statement failed");
    }
    /// Runs to the end (no rows expected).
    void run() {
        while (step()) {
        }
    }

    bool is_text(int col) const { return sqlite3_column_type(s_, col) == SQLITE_TEXT; }
    bool is_null(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
    std::int64_t i64(int col) const { return sqlite3_column_int64(s_, col); }
    std::string text(int col) const {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
        return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, col))) : std::string();
    }

private:
    void bind(int i, std::int64_t v) { sqlite3_bind_int64(s_, i, v); }
    void bind(int i, int v) { sqlite3_bind_int64(s_, i, v); }
    void bind(int i, unsigned v) { sqlite3_bind_int64(s_, i, v); }
    void bind(int i, std::uint64_t v) { sqlite3_bind_int64(s_, i, static_cast<std::int64_t>(v)); }
    void bind(int i, std::string_view v) { sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT); }
    void bind(int i, const std::string& v) { bind(i, std::string_view(v)); }
    void bind(int i, const char* v) { bind(i, std::string_view(v)); }
    void bind(int i, std::nullopt_t) { sqlite3_bind_null(s_, i); }
    template <class T>
    void bind(int i, const std::optional<T>& v) {
        if (v) bind(i, *v);
        else sqlite3_bind_null(s_, i);
    }

    const db* db_;
    sqlite3_stmt* s_ = nullptr;
};

/// BEGIN IMMEDIATE (the write lock at once, waiting up to busy_timeout for
/// another process) ... COMMIT; rolled back if not committed.
class transaction {
public:
    explicit transaction(const db& d) : db_(d) { db_.exec("BEGIN IMMEDIATE"); }
    ~transaction() {
        if (done_) return;
        db_.settle();
        sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
    void commit() {
        db_.settle();
        db_.exec("COMMIT");
        done_ = true;
    }

private:
    const db& db_;
    bool done_ = false;
};

}  // namespace csp::sqlite
