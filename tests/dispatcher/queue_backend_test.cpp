// The queue backend contract (backend_contract.hpp) for the memory and the
// SQLite backends, and what only SQLite has: several connections (as
// processes) on one file, and damaged rows in the table.
#include <sqlite3.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <thread>

#include "backend_contract.hpp"

namespace csp_test {
namespace {

std::string sqlite_path(const std::string& store) {
    return (std::filesystem::temp_directory_path() / ("cspfiber_backend_" + store + ".db")).string();
}

std::unique_ptr<csp::queue_backend> open_memory(const std::string&, const csp::backend_options& o) {
    return csp::open_backend("memory", o);
}

std::unique_ptr<csp::queue_backend> open_sqlite(const std::string& store, const csp::backend_options& o) {
    return csp::open_backend("sqlite:" + sqlite_path(store), o);
}

void drop_sqlite(const std::string& store) {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(sqlite_path(store) + suffix);
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendContract,
                         ::testing::Values(backend_factory{"memory", open_memory, false, {}},
                                           backend_factory{"sqlite", open_sqlite, true, drop_sqlite}),
                         [](const ::testing::TestParamInfo<backend_factory>& i) { return i.param.name; });

// Removes a test's database files at its end.
struct sqlite_file {
    std::string path = sqlite_path(contract::fresh_store());
    ~sqlite_file() {
        for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
    }
    void exec(const std::string& sql) const {
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
        sqlite3_busy_timeout(db, 5000);
        char* err = nullptr;
        EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
        sqlite3_free(err);
        sqlite3_close(db);
    }
};

TEST(SqliteBackend, ADamagedRowFailsThatTaskAndTheOthersGoOn) {
    sqlite_file f;
    auto b = csp::make_sqlite_backend(f.path);
    auto good1 = b->enqueue(contract::spec("echo", "1")).id;
    auto bad_type = b->enqueue(contract::spec("echo", "2")).id;
    auto bad_payload = b->enqueue(contract::spec("echo", "3")).id;
    auto good2 = b->enqueue(contract::spec("echo", "4")).id;
    // Damage from outside: a type that is no text, a payload that is a blob.
    f.exec("UPDATE tasks SET type = NULL WHERE id = " + std::to_string(bad_type));
    f.exec("UPDATE tasks SET payload = x'00ff' WHERE id = " + std::to_string(bad_payload));
    std::vector<csp::task_id> got;
    for (int i = 0; i < 4; ++i)
        for (const auto& c : b->claim(4, 0ms)) {
            got.push_back(c.id);
            EXPECT_TRUE(b->complete(c, contract::succeeded()));
        }
    EXPECT_EQ(got, (std::vector<csp::task_id>{good1, good2}));
    for (auto id : {bad_type, bad_payload}) {
        auto r = b->find(id);
        ASSERT_TRUE(r.has_value());
        EXPECT_EQ(r->state, csp::job_state::failed);
        EXPECT_NE(r->error.find("damaged"), std::string::npos) << r->error;
    }
}

TEST(SqliteBackend, AnUnknownStateInTheTableIsReportedNotFatal) {
    sqlite_file f;
    auto b = csp::make_sqlite_backend(f.path);
    auto id = b->enqueue(contract::spec("echo")).id;
    f.exec("UPDATE tasks SET state = 'bogus' WHERE id = " + std::to_string(id));
    auto r = b->find(id);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->state, csp::job_state::failed);
    EXPECT_NE(r->error.find("damaged"), std::string::npos) << r->error;
    EXPECT_EQ(b->list(10).size(), 1u);
    EXPECT_TRUE(b->claim(1, 0ms).empty());
}

TEST(SqliteBackend, AFileThatIsNoDatabaseIsAClearError) {
    sqlite_file f;
    {
        std::FILE* out = std::fopen(f.path.c_str(), "w");
        ASSERT_NE(out, nullptr);
        std::fputs("this is not a database, just text long enough to have a header page......................\n", out);
        std::fclose(out);
    }
    try {
        csp::make_sqlite_backend(f.path);
        ADD_FAILURE() << "opened a file that is no database";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(f.path), std::string::npos) << e.what();
    }
}

// Several processes opening one fresh file at once: switching it to WAL
// needs it alone for a moment and SQLite answers "database is locked" at
// once instead of waiting (seen with jobqueue processes started together).
// Every opening must wait its turn. Children are forked before any opens
// and released together by closing a pipe.
TEST(SqliteBackend, ProcessesOpeningOneFreshFileAtOnceAllSucceed) {
    constexpr int rounds = 40, procs = 6;
    int failures = 0;
    std::string why;
    for (int round = 0; round < rounds; ++round) {
        sqlite_file f;
        int go[2], report[2];
        ASSERT_EQ(pipe(go), 0);
        ASSERT_EQ(pipe(report), 0);
        std::vector<pid_t> kids;
        for (int i = 0; i < procs; ++i) {
            const pid_t pid = fork();
            ASSERT_GE(pid, 0);
            if (pid == 0) {
                close(go[1]);
                close(report[0]);
                char c;
                (void)!read(go[0], &c, 1);  // returns at EOF: every child starts now
                try {
                    auto b = csp::make_sqlite_backend(f.path);
                    b->enqueue(contract::spec("echo"));
                    _exit(0);
                } catch (const std::exception& e) {
                    const std::string msg = std::string(e.what()) + "\n";
                    (void)!write(report[1], msg.data(), msg.size());
                    _exit(1);
                }
            }
            kids.push_back(pid);
        }
        close(go[0]);
        close(report[1]);
        close(go[1]);  // go
        char buf[512];
        for (ssize_t n; (n = read(report[0], buf, sizeof buf)) > 0;) why.append(buf, static_cast<std::size_t>(n));
        close(report[0]);
        for (pid_t pid : kids) {
            int status = 0;
            ASSERT_EQ(waitpid(pid, &status, 0), pid);
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failures;
        }
        auto b = csp::make_sqlite_backend(f.path);
        EXPECT_EQ(b->stats().queued, static_cast<std::uint64_t>(procs - failures)) << "round " << round;
    }
    EXPECT_EQ(failures, 0) << "of " << rounds * procs << " openings; first errors:\n" << why.substr(0, 2000);
}

// complete_many stores a batch in one transaction (one commit, one fsync
// with synchronous=FULL): the WAL holds one commit's frames, where a commit
// per outcome appends at least a frame each.
TEST(SqliteBackend, CompleteManyIsOneCommit) {
    sqlite_file f;
    csp::backend_options o;
    o.sqlite_full_sync = true;
    auto b = csp::make_sqlite_backend(f.path, o);
    constexpr std::size_t n = 40;
    for (std::size_t i = 0; i < n; ++i) b->enqueue(contract::spec("echo"));
    auto cs = b->claim(n, 0ms);
    ASSERT_EQ(cs.size(), n);
    std::vector<std::pair<csp::claimed_task, csp::task_outcome>> done;
    for (const auto& c : cs) done.emplace_back(c, contract::succeeded());
    done[3].first.receipt = "not-ours";  // refused, in its place
    f.exec("PRAGMA wal_checkpoint(TRUNCATE)");  // the WAL starts empty
    const auto accepted = b->complete_many(done);
    ASSERT_EQ(accepted.size(), n);
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(accepted[i], i != 3) << i;
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(f.path.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA wal_checkpoint(PASSIVE)", -1, &s, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
    const int frames = sqlite3_column_int(s, 1);
    sqlite3_finalize(s);
    sqlite3_close(db);
    EXPECT_LT(frames, static_cast<int>(n / 2)) << "WAL frames after one complete_many of " << n;
    EXPECT_EQ(b->stats().succeeded, n - 1);
    EXPECT_EQ(b->stats().running, 1u);
}

// A claim waiting in one process sees a task another connection (another
// process) commits (invariant 7: PRAGMA data_version).
TEST(SqliteBackend, AWaitingClaimSeesAnotherConnectionsTask) {
    sqlite_file f;
    auto waiter = csp::make_sqlite_backend(f.path);
    auto other = csp::make_sqlite_backend(f.path);
    std::thread submit([&] { other->enqueue(contract::spec("echo")); });
    std::vector<csp::claimed_task> got;
    for (int i = 0; i < 100 && got.empty(); ++i) got = waiter->claim(1, 100ms);
    submit.join();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].type, "echo");
}

TEST(OpenBackend, UnknownSchemesAreRefused) {
    EXPECT_THROW(csp::open_backend("postgres://x"), std::invalid_argument);
    EXPECT_THROW(csp::open_backend("sqlite:"), std::invalid_argument);
}

}  // namespace
}  // namespace csp_test
