#include "hpo/store.h"

#include <sqlite3.h>

#include <chrono>
#include <map>

#include "vdsr/util/error.h"
#include "vdsr/util/json_io.h"

namespace vdsr::hpo {

namespace {

// A prepared statement that finalizes itself; errors carry SQLite's message.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("sqlite prepare: ") + sqlite3_errmsg(db));
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
    throw std::runtime_error(std::string("sqlite step: ") + sqlite3_errmsg(db_));
  }
  bool null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  std::string text(int c) const {
    const unsigned char* t = sqlite3_column_text(s_, c);
    return t ? reinterpret_cast<const char*>(t) : "";
  }
  double real(int c) const { return sqlite3_column_double(s_, c); }
  int integer(int c) const { return sqlite3_column_int(s_, c); }

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
  ended REAL, final REAL, final_json TEXT, exit_code INTEGER, message TEXT, rerun_of INTEGER);
CREATE TABLE IF NOT EXISTS metrics(
  trial_id INTEGER NOT NULL REFERENCES trials(id), seq INTEGER NOT NULL, type TEXT NOT NULL,
  step INTEGER NOT NULL, value REAL NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (trial_id, seq));
)";

sqlite3* open_db(const fs::path& file) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw Error("cannot open experiment store '" + file.string() + "': " + msg);
  }
  sqlite3_busy_timeout(db, 5000);
  return db;
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
  Store s(open_db(file));
  s.exec("PRAGMA journal_mode=WAL;");
  s.exec("PRAGMA synchronous=NORMAL;");
  s.exec(kSchema);
  Stmt(s.db_, "INSERT INTO experiment(id, config, created) VALUES (1, ?, ?)")
      .bind(1, dump_json(config))
      .bind(2, now_seconds())
      .step();
  return s;
}

Store Store::open(const fs::path& dir) {
  const fs::path file = dir / kFileName;
  if (!fs::exists(file)) throw Error("'" + dir.string() + "' holds no experiment (no " + kFileName + ")");
  Store s(open_db(file));
  s.exec("PRAGMA journal_mode=WAL;");
  s.exec("PRAGMA synchronous=NORMAL;");
  s.exec(kSchema);
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

int Store::mark_interrupted(double now) {
  Stmt(db_, "UPDATE trials SET status = ?, ended = ?, message = 'interrupted: the tuner stopped while it ran' "
            "WHERE status = ?")
      .bind(1, name_of(TrialState::kInterrupted))
      .bind(2, now)
      .bind(3, name_of(TrialState::kRunning))
      .step();
  return sqlite3_changes(db_);
}

std::vector<TrialRecord> Store::trials() const {
  std::vector<TrialRecord> out;
  std::map<int, size_t> index;
  {
    Stmt st(db_,
            "SELECT id, params, status, started, ended, final, final_json, exit_code, message, rerun_of "
            "FROM trials ORDER BY id");
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
