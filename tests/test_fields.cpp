// vdsr::Fields and VDSR_ENUM_NAMES: every error names the path, the key, what was expected and what came.
#include <gtest/gtest.h>

#include "test_util.h"
#include "vdsr/util/fields.h"

using namespace vdsr;
using test::error_of;
using nlohmann::json;

namespace demo {
enum class Colour { kRed, kGreen, kBlue };
VDSR_ENUM_NAMES(Colour, {{Colour::kRed, "red"}, {Colour::kGreen, "green"}, {Colour::kBlue, "blue"}})
}  // namespace demo

namespace {

TEST(Fields, ReadsTypedValuesWithDefaults) {
  const json j = {{"n", 3}, {"lr", 0.1}, {"name", "x"}, {"sizes", {1, 2}}, {"colour", "green"}, {"on", true}};
  Fields f(j, "a.json");
  EXPECT_EQ(f.required<int>("n"), 3);
  EXPECT_DOUBLE_EQ(f.optional<double>("lr", 1.0, Range::half_open(0, 1)), 0.1);
  EXPECT_DOUBLE_EQ(f.optional<double>("momentum", 0.9), 0.9);
  EXPECT_EQ(f.required<std::string>("name"), "x");
  EXPECT_EQ(f.required<std::vector<int>>("sizes"), (std::vector<int>{1, 2}));
  EXPECT_EQ(f.required<demo::Colour>("colour"), demo::Colour::kGreen);
  EXPECT_EQ(f.maybe<bool>("on"), std::optional<bool>(true));
  EXPECT_FALSE(f.maybe<int>("absent").has_value());
  EXPECT_NO_THROW(f.finish());
}

TEST(Fields, ErrorsNameThePathTheKeyAndWhatWasExpected) {
  const json j = {{"n", 2.5}, {"lr", 1.0}, {"colour", "pink"}, {"sub", {{"k", "v"}}}, {"typo", 1}, {"xs", {1, "a"}}};
  Fields f(j, "a.json");
  EXPECT_EQ(error_of([&] { f.required<int>("n"); }), "a.json: n: expected an integer, got 2.5");
  EXPECT_EQ(error_of([&] { f.required<double>("lr", Range::half_open(0, 1)); }),
            "a.json: lr: expected a number in [0, 1), got 1.0");
  EXPECT_EQ(error_of([&] { f.required<int>("missing", Range::at_least(1)); }),
            "a.json: missing: missing (expected an integer)");
  EXPECT_EQ(error_of([&] { f.required<demo::Colour>("colour"); }),
            "a.json: colour: expected one of red, green or blue, got \"pink\"");
  EXPECT_EQ(error_of([&] { f.required<std::vector<int>>("xs"); }), "a.json: xs: expected a list of integers, got [1,\"a\"]");
  Fields sub = f.object("sub");
  EXPECT_EQ(error_of([&] { sub.required<int>("k"); }), "a.json: sub.k: expected an integer, got \"v\"");
  EXPECT_EQ(error_of([&] { sub.finish(); }), "(no error)");  // k was read, if badly
  EXPECT_EQ(error_of([&] { f.finish(); }), "a.json: typo: unknown key (valid keys: colour, lr, n, sub, xs)");
  EXPECT_EQ(error_of([] { Fields(json::array(), "b.json"); }), "b.json: expected a JSON object, got array");
}

TEST(Fields, IntegersOutOfRangeOfTheTypeAreRejected) {
  const json j = {{"big", 1LL << 40}, {"neg", -1}};
  Fields f(j, "c.json");
  EXPECT_NE(error_of([&] { f.required<int>("big"); }).find("expected an integer"), std::string::npos);
  EXPECT_NE(error_of([&] { f.required<unsigned>("neg"); }).find("expected an integer"), std::string::npos);
}

TEST(EnumNames, RoundTripAndListTheChoices) {
  EXPECT_EQ(name_of(demo::Colour::kBlue), "blue");
  EXPECT_EQ(parse_enum<demo::Colour>("red"), demo::Colour::kRed);
  EXPECT_EQ(enum_choices<demo::Colour>(), "red, green or blue");
  EXPECT_EQ(error_of([] { parse_enum<demo::Colour>("teal"); }), "'teal': expected one of red, green or blue");
  EXPECT_EQ(json(demo::Colour::kGreen), json("green"));
  EXPECT_EQ(json("blue").get<demo::Colour>(), demo::Colour::kBlue);
}

}  // namespace
