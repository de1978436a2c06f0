// The queue backend contract (backend_contract.hpp) for the memory and the
// SQLite backends, and what only SQLite has: several connections (as
// processes) on one file, and damaged rows in the table.
#include <sqlite3.h>

#include <cstdio>
#include <filesystem>

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

TEST(OpenBackend, UnknownSchemesAreRefused) {
    EXPECT_THROW(csp::open_backend("postgres://x"), std::invalid_argument);
    EXPECT_THROW(csp::open_backend("sqlite:"), std::invalid_argument);
}

}  // namespace
}  // namespace csp_test
