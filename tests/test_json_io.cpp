// vdsr/util/json_io.h: JSON from outside is bounded in depth and size before it is parsed, every error names
// where it came from in valid UTF-8, and JSON holding non-UTF-8 strings (Linux paths) is still written.
#include <gtest/gtest.h>

#include <fstream>

#include "test_util.h"
#include "vdsr/util/fields.h"
#include "vdsr/util/json_io.h"

using namespace vdsr;
using test::error_of;
using nlohmann::json;

namespace {

std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

bool valid_utf8(const std::string& s) {
  try {
    (void)json(s).dump();  // strict: throws type_error.316 on invalid UTF-8
    return true;
  } catch (const json::type_error&) {
    return false;
  }
}

TEST(JsonIo, DepthIsCountedOutsideStringsOnly) {
  EXPECT_EQ(json_depth(R"({"a": [1, {"b": []}]})", 100), 4);
  EXPECT_EQ(json_depth(R"(["[[[[", "\"[[[", {}])", 100), 2);
  EXPECT_EQ(json_depth("42", 100), 0);
  EXPECT_EQ(json_depth(nested(1000000), 64), 65);  // stops as soon as it knows
}

TEST(JsonIo, TooDeepInputIsAClearErrorNotAStackOverflow) {
  // 100,000 levels crashed nlohmann's recursive dump and copy; now refused before parsing.
  EXPECT_EQ(error_of([] { parse_json(nested(100000), "deep.json"); }),
            "deep.json: nested deeper than 64 levels of arrays and objects (the limit)");
  EXPECT_NO_THROW(parse_json(nested(64), "ok.json"));
  EXPECT_NE(error_of([] { parse_json(nested(9), "m", {4096, 8}); }).find("deeper than 8 levels"), std::string::npos);
}

TEST(JsonIo, TooLargeInputIsAClearError) {
  const std::string text = "[" + std::string(100, ' ') + "]";
  EXPECT_EQ(error_of([&] { parse_json(text, "big.json", {64, 8}); }),
            "big.json: too large for JSON input (102 bytes; the limit is 64 bytes)");
}

TEST(JsonIo, NumbersOutOfRangeAndBadTextAreErrorsNamingTheSource) {
  // 1e309 is nlohmann's out_of_range.406, not a parse_error: it used to escape as a raw exception (exit 1).
  const std::string overflow = error_of([] { parse_json(R"([{"sparsity": 1e309}])", "prune.json"); });
  EXPECT_EQ(overflow.rfind("prune.json: not valid JSON (", 0), 0u) << overflow;
  EXPECT_NE(overflow.find("1e309"), std::string::npos) << overflow;
  EXPECT_EQ(overflow.find("[json.exception"), std::string::npos) << overflow;
  EXPECT_EQ(error_of([] { parse_json("", "empty.json"); }).rfind("empty.json: not valid JSON (", 0), 0u);
}

TEST(JsonIo, ErrorsAboutInvalidUtf8AreThemselvesValidUtf8) {
  const std::string bad = std::string("{\"type\": \"final\", \"value\": \"") + "\xff\xfe\xc3" + "\"}";
  const std::string msg = error_of([&] { parse_json(bad, "metrics.jsonl"); });
  EXPECT_EQ(msg.rfind("metrics.jsonl: not valid JSON (", 0), 0u) << msg;
  EXPECT_TRUE(valid_utf8(msg)) << msg;
  EXPECT_EQ(printable("a\xff\n\xc3\xa9z"), "a\\xFF\\x0A\xc3\xa9z");  // é kept, the rest escaped
  EXPECT_EQ(printable("abcdef", 3), "abc...");
  EXPECT_EQ(printable("\xed\xa0\x80"), "\\xED\\xA0\\x80");  // a UTF-16 surrogate is not UTF-8
}

TEST(JsonIo, DumpWritesNonUtf8StringsInsteadOfThrowing) {
  const json j = {{"path", "/data/caf\xe9/x.h5"}};
  EXPECT_THROW((void)j.dump(), json::type_error);
  const std::string text = dump_json(j);
  EXPECT_EQ(text, "{\"path\":\"/data/caf\xef\xbf\xbd/x.h5\"}");  // U+FFFD
  EXPECT_EQ(parse_json(text, "back")["path"], "/data/caf\xef\xbf\xbd/x.h5");
}

TEST(JsonIo, ReadJsonFileNamesTheFile) {
  const auto dir = test::scratch_dir("json_io");
  EXPECT_EQ(error_of([&] { read_json_file(dir / "absent.json"); }),
            (dir / "absent.json").string() + ": cannot open file (it does not exist)");
  EXPECT_EQ(error_of([&] { read_json_file(dir); }), dir.string() + ": is a folder, expected a JSON file");
  std::ofstream(dir / "deep.json") << nested(5000);
  EXPECT_NE(error_of([&] { read_json_file(dir / "deep.json"); }).find("deep.json: nested deeper"), std::string::npos);
  std::ofstream(dir / "big.json") << "[" << std::string(1000, ' ') << "]";
  EXPECT_NE(error_of([&] { read_json_file(dir / "big.json", {100, 8}); }).find("big.json: too large"), std::string::npos);
  std::ofstream(dir / "ok.json") << R"({"a": [1, 2]})";
  EXPECT_EQ(read_json_file(dir / "ok.json"), json({{"a", {1, 2}}}));
}

TEST(JsonIo, FieldsQuoteAtMost200BytesOfAWrongValue) {
  json j = {{"n", json::array()}};
  for (int i = 0; i < 10000; ++i) j["n"].push_back(i);
  Fields f(j, "a.json");
  const std::string msg = error_of([&] { f.required<int>("n"); });
  EXPECT_EQ(msg.rfind("a.json: n: expected an integer, got [0,1,2,", 0), 0u) << msg;
  EXPECT_LT(msg.size(), 300u);
  EXPECT_EQ(msg.substr(msg.size() - 3), "...");
}

}  // namespace
