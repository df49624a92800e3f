#include "hpo/store.h"

#include <sqlite3.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <map>
#include <set>

#include "vdsr/util/error.h"
#include "vdsr/util/json_io.h"

namespace vdsr::hpo {

namespace {

// An SQLite failure, with its result code.
struct SqliteError : std::runtime_error {
  SqliteError(const std::string& what, sqlite3* db)
      : std::runtime_error(what + sqlite3_errmsg(db)), code(sqlite3_errcode(db)), message(sqlite3_errmsg(db)) {}
  int code;
  std::string message;
};

// A prepared statement that finalizes itself; errors carry SQLite's message.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK) throw SqliteError("sqlite prepare: ", db);
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  Stmt& bind(int i, int v) {
    sqlite3_bind_int(s_, i, v);
    return *this;
  }
  Stmt& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  template <class T>
  Stmt& bind(int i, const std::optional<T>& v) {
    if (v) return bind(i, *v);
    sqlite3_bind_null(s_, i);
    return *this;
  }
  bool step() {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw SqliteError("sqlite step: ", db_);
  }
  bool null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  std::string text(int c) const {
    const unsigned char* t = sqlite3_column_text(s_, c);
    return t ? reinterpret_cast<const char*>(t) : "";
  }
  double real(int c) const { return sqlite3_column_double(s_, c); }
  int integer(int c) const { return sqlite3_column_int(s_, c); }
  std::int64_t integer64(int c) const { return sqlite3_column_int64(s_, c); }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS experiment(
  id INTEGER PRIMARY KEY CHECK (id = 1), config TEXT NOT NULL, created REAL NOT NULL,
  elapsed REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS trials(
  id INTEGER PRIMARY KEY, params TEXT NOT NULL, status TEXT NOT NULL, started REAL NOT NULL,
  ended REAL, final REAL, final_json TEXT, exit_code INTEGER, message TEXT, rerun_of INTEGER,
  pgid INTEGER, pid_start INTEGER, job_id TEXT, attempt INTEGER);
CREATE TABLE IF NOT EXISTS metrics(
  trial_id INTEGER NOT NULL REFERENCES trials(id), seq INTEGER NOT NULL, type TEXT NOT NULL,
  step INTEGER NOT NULL, value REAL NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (trial_id, seq));
)";

sqlite3* open_db(const std::string& name, int flags, const fs::path& file) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(name.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw Error(file.string() + ": cannot open the experiment database (" + msg + ")");
  }
  sqlite3_busy_timeout(db, 5000);
  return db;
}

// A file URI for SQLite: everything but unreserved characters and '/' percent-encoded.
std::string file_uri(const fs::path& file, const std::string& query) {
  static const char* hex = "0123456789ABCDEF";
  std::string uri = "file:";
  for (unsigned char ch : file.string()) {
    if (std::isalnum(ch) || ch == '/' || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      uri += static_cast<char>(ch);
    } else {
      uri += '%';
      uri += hex[ch >> 4];
      uri += hex[ch & 15];
    }
  }
  return uri + "?" + query;
}

// Checks, reading only, that the file is an intact experiment database; throws vdsr::Error naming it.
void check_database(sqlite3* db, const fs::path& file) {
  const std::string where = file.string() + ": ";
  try {
    Stmt check(db, "PRAGMA quick_check");
    const std::string verdict = check.step() ? check.text(0) : "no answer";
    if (verdict != "ok") throw Error(where + "the experiment database is damaged (SQLite: " + verdict + ")");
    Stmt tables(db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND "
                    "name IN ('experiment', 'trials', 'metrics')");
    bool ok = tables.step() && tables.integer(0) == 3;
    if (ok) {
      Stmt row(db, "SELECT COUNT(*) FROM experiment WHERE id = 1");
      ok = row.step() && row.integer(0) == 1;
    }
    if (!ok) throw Error(where + "not an experiment database (no experiment record)");
  } catch (const SqliteError& e) {
    const std::string what = e.code == SQLITE_NOTADB     ? "not an experiment database"
                             : e.code == SQLITE_CORRUPT ? "the experiment database is damaged"
                                                        : "cannot read the experiment database";
    throw Error(where + what + " (SQLite: " + e.message + ")");
  }
}

// Adds the columns later versions need to a store created by an earlier one.
void upgrade_schema(sqlite3* db) {
  std::set<std::string> have;
  {
    Stmt cols(db, "PRAGMA table_info(trials)");
    while (cols.step()) have.insert(cols.text(1));
  }
  const std::pair<const char*, const char*> added[] = {
      {"pgid", "INTEGER"}, {"pid_start", "INTEGER"}, {"job_id", "TEXT"}, {"attempt", "INTEGER"}};
  for (const auto& [name, type] : added)
    if (!have.count(name))
      Stmt(db, ("ALTER TABLE trials ADD COLUMN " + std::string(name) + " " + type).c_str()).step();
}

// The store file of `dir`. An empty file is refused before SQLite sees it: SQLite would take it for a
// new, empty database.
fs::path existing_store(const fs::path& dir) {
  const fs::path file = dir / Store::kFileName;
  std::error_code ec;
  if (!fs::exists(file, ec)) throw Error("'" + dir.string() + "' holds no experiment (no " + Store::kFileName + ")");
  if (fs::is_regular_file(file, ec) && fs::file_size(file, ec) == 0 && !ec)
    throw Error(file.string() + ": empty file, not an experiment database");
  return file;
}

}  // namespace

bool TrialRecord::counts_as_done() const {
  return status == TrialState::kSucceeded || status == TrialState::kFailed || status == TrialState::kEarlyStopped;
}

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

Store Store::create(const fs::path& dir, const json& config) {
  const fs::path file = dir / kFileName;
  if (fs::exists(file))
    throw Error("'" + dir.string() + "' already holds an experiment; continue it with --resume " + dir.string() +
                " or choose another --dir");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error("cannot create experiment folder '" + dir.string() + "': " + ec.message());
  // Built under another name and renamed when complete, so that no reader (nor a --resume after a crash
  // here) ever finds an empty or half-made store.
  const fs::path tmp = dir / (std::string(".") + kFileName + "." + std::to_string(getpid()) + ".new");
  const auto remove_tmp = [&] {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(tmp.string() + suffix, ec);
  };
  remove_tmp();
  try {  // in rollback-journal mode, where every commit is in the file itself
    Store s(open_db(tmp.string(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, file));
    s.exec(kSchema);
    Stmt(s.db_, "INSERT INTO experiment(id, config, created) VALUES (1, ?, ?)")
        .bind(1, dump_json(config))
        .bind(2, now_seconds())
        .step();
  } catch (...) {
    remove_tmp();
    throw;
  }
  fs::rename(tmp, file, ec);
  if (ec) {
    remove_tmp();
    throw Error(file.string() + ": cannot create the experiment database (" + ec.message() + ")");
  }
  Store s(open_db(file.string(), SQLITE_OPEN_READWRITE, file));
  s.exec("PRAGMA journal_mode=WAL;");
  s.exec("PRAGMA synchronous=NORMAL;");
  return s;
}

Store Store::open(const fs::path& dir) {
  open_read_only(dir);  // checks the file first, without creating -wal and -shm files beside a bad one
  const fs::path file = dir / kFileName;
  Store s(open_db(file.string(), SQLITE_OPEN_READWRITE, file));
  s.exec("PRAGMA synchronous=NORMAL;");
  upgrade_schema(s.db_);
  return s;
}

Store Store::open_read_only(const fs::path& dir) {
  const fs::path file = existing_store(dir);
  // Without a -wal file every committed trial is in the database file itself, and "immutable" reads it
  // with no lock and no -shm file to create (a read-only folder allows neither). A -wal file holds
  // commits not yet copied back (a tuner runs, or was killed): read it the usual way, read-only.
  const fs::path wal = file.string() + "-wal";
  std::error_code ec;
  const bool immutable = !fs::exists(wal, ec);
  Store s(open_db(immutable ? file_uri(fs::absolute(file), "immutable=1") : file.string(),
                  SQLITE_OPEN_READONLY | (immutable ? SQLITE_OPEN_URI : 0), file));
  check_database(s.db_, file);
  return s;
}

Store::Store(Store&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }

Store::~Store() {
  if (db_) sqlite3_close(db_);
}

void Store::exec(const std::string& sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown";
    sqlite3_free(err);
    throw std::runtime_error("sqlite: " + msg);
  }
}

json Store::config() const {
  Stmt st(db_, "SELECT config FROM experiment WHERE id = 1");
  if (!st.step()) throw Error("experiment store has no experiment row");
  return parse_json(st.text(0), std::string(kFileName) + ": the stored config");
}

void Store::set_config(const json& config) {
  Stmt(db_, "UPDATE experiment SET config = ? WHERE id = 1").bind(1, dump_json(config)).step();
}

double Store::elapsed() const {
  Stmt st(db_, "SELECT elapsed FROM experiment WHERE id = 1");
  return st.step() ? st.real(0) : 0.0;
}

void Store::set_elapsed(double seconds) {
  Stmt(db_, "UPDATE experiment SET elapsed = ? WHERE id = 1").bind(1, seconds).step();
}

void Store::add_trial(int id, const json& params, double started, std::optional<int> rerun_of) {
  Stmt(db_, "INSERT INTO trials(id, params, status, started, rerun_of) VALUES (?, ?, ?, ?, ?)")
      .bind(1, id)
      .bind(2, dump_json(params))
      .bind(3, name_of(TrialState::kRunning))
      .bind(4, started)
      .bind(5, rerun_of)
      .step();
}

void Store::finish_trial(int id, TrialState st, double ended, std::optional<double> final,
                         const json& final_payload, std::optional<int> exit_code, const std::string& message) {
  Stmt(db_,
       "UPDATE trials SET status = ?, ended = ?, final = ?, final_json = ?, exit_code = ?, message = ? "
       "WHERE id = ?")
      .bind(1, name_of(st))
      .bind(2, ended)
      .bind(3, final)
      .bind(4, final_payload.is_null() ? std::optional<std::string>() : dump_json(final_payload))
      .bind(5, exit_code)
      .bind(6, message)
      .bind(7, id)
      .step();
}

void Store::add_metric(int trial_id, const Metric& m) {
  Stmt(db_,
       "INSERT INTO metrics(trial_id, seq, type, step, value, payload) VALUES "
       "(?, (SELECT COUNT(*) FROM metrics WHERE trial_id = ?), ?, ?, ?, ?)")
      .bind(1, trial_id)
      .bind(2, trial_id)
      .bind(3, name_of(m.type))
      .bind(4, m.step)
      .bind(5, m.value)
      .bind(6, dump_json(m.payload))
      .step();
}

int Store::mark_interrupted(double now) { return mark_interrupted_except(now, {}); }

int Store::mark_interrupted_except(double now, const std::vector<int>& keep) {
  const json kept = keep;
  Stmt(db_, "UPDATE trials SET status = ?, ended = ?, message = 'interrupted: the tuner stopped while it ran' "
            "WHERE status = ? AND id NOT IN (SELECT value FROM json_each(?))")
      .bind(1, name_of(TrialState::kInterrupted))
      .bind(2, now)
      .bind(3, name_of(TrialState::kRunning))
      .bind(4, kept.dump())
      .step();
  return sqlite3_changes(db_);
}

void Store::set_trial_job(int id, const std::string& job_id, int attempt) {
  Stmt(db_, "UPDATE trials SET job_id = ?, attempt = ? WHERE id = ?").bind(1, job_id).bind(2, attempt).bind(3, id).step();
}

void Store::clear_metrics(int id) {
  Stmt(db_, "DELETE FROM metrics WHERE trial_id = ?").bind(1, id).step();
  Stmt(db_, "UPDATE trials SET final = NULL, final_json = NULL WHERE id = ?").bind(1, id).step();
}

void Store::set_trial_process(int id, const TrialProcess& p) {
  Stmt(db_, "UPDATE trials SET pgid = ?, pid_start = ? WHERE id = ?")
      .bind(1, p.pgid)
      .bind(2, static_cast<std::int64_t>(p.start_time))
      .bind(3, id)
      .step();
}

std::vector<TrialProcess> Store::running_processes() const {
  std::vector<TrialProcess> out;
  Stmt st(db_, "SELECT id, pgid, pid_start FROM trials WHERE status = ? AND pgid IS NOT NULL AND "
               "pid_start IS NOT NULL ORDER BY id");
  st.bind(1, name_of(TrialState::kRunning));
  while (st.step())
    out.push_back({st.integer(0), st.integer(1), static_cast<std::uint64_t>(st.integer64(2))});
  return out;
}

std::vector<TrialRecord> Store::trials() const {
  std::vector<TrialRecord> out;
  std::map<int, size_t> index;
  {
    // A store of an earlier version opened read-only has no job columns (open() adds them).
    bool has_job = false;
    {
      Stmt cols(db_, "PRAGMA table_info(trials)");
      while (cols.step()) has_job = has_job || cols.text(1) == "job_id";
    }
    const std::string sql =
        std::string("SELECT id, params, status, started, ended, final, final_json, exit_code, message, rerun_of, ") +
        (has_job ? "job_id, attempt" : "NULL, NULL") + " FROM trials ORDER BY id";
    Stmt st(db_, sql.c_str());
    while (st.step()) {
      TrialRecord t;
      t.id = st.integer(0);
      const std::string row = std::string(kFileName) + ": trial " + std::to_string(t.id);
      t.params = parse_json(st.text(1), row + " params");
      t.status = parse_enum<TrialState>(st.text(2));
      t.started = st.real(3);
      t.ended = st.null(4) ? 0 : st.real(4);
      if (!st.null(5)) t.final = st.real(5);
      if (!st.null(6)) t.final_payload = parse_json(st.text(6), row + " final value");
      if (!st.null(7)) t.exit_code = st.integer(7);
      t.message = st.text(8);
      if (!st.null(9)) t.rerun_of = st.integer(9);
      t.job_id = st.text(10);
      t.attempt = st.null(11) ? 0 : st.integer(11);
      index[t.id] = out.size();
      out.push_back(std::move(t));
    }
  }
  Stmt st(db_, "SELECT trial_id, type, step, value, payload FROM metrics WHERE type = 'intermediate' "
               "ORDER BY trial_id, seq");
  while (st.step()) {
    auto it = index.find(st.integer(0));
    if (it == index.end()) continue;
    out[it->second].intermediate.push_back(
        Metric{parse_enum<MetricType>(st.text(1)), st.integer(2), st.real(3),
               parse_json(st.text(4), std::string(kFileName) + ": a metric of trial " + std::to_string(st.integer(0)))});
  }
  return out;
}

}  // namespace vdsr::hpo
