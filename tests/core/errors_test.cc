// InputError: its fields, what() formatted from them, and with_location.
#include "core/errors.h"

#include <gtest/gtest.h>

#include <string>
#include <type_traits>

namespace kvlab {
namespace {

TEST(InputError, ReasonOnlyHasNoLocation) {
  const InputError e("calibration needs at least 8 measured steps");
  EXPECT_EQ(e.source(), "");
  EXPECT_EQ(e.line(), 0);
  EXPECT_EQ(e.field(), "");
  EXPECT_EQ(e.reason(), "calibration needs at least 8 measured steps");
  EXPECT_FALSE(e.has_location());
  EXPECT_STREQ(e.what(), "calibration needs at least 8 measured steps");
}

TEST(InputError, FieldsAreKeptAsGiven) {
  const InputError e("exp.ini", 7, "memory.block_size", "must be in 1..256");
  EXPECT_EQ(e.source(), "exp.ini");
  EXPECT_EQ(e.line(), 7);
  EXPECT_EQ(e.field(), "memory.block_size");
  EXPECT_EQ(e.reason(), "must be in 1..256");
  EXPECT_TRUE(e.has_location());
}

struct Case {
  const char* source;
  long line;
  const char* field;
  const char* expected;  // what() for reason "bad"
};

TEST(InputError, WhatLeavesOutEmptyParts) {
  const Case cases[] = {
      {"exp.ini", 7, "memory.policy", "exp.ini:7: field 'memory.policy': bad"},
      {"exp.ini", 7, "", "exp.ini:7: bad"},
      {"exp.ini", 0, "memory.policy", "exp.ini: field 'memory.policy': bad"},
      {"exp.ini", 0, "", "exp.ini: bad"},
      {"--set", 0, "memory.policy", "--set: field 'memory.policy': bad"},
      {"", 3, "json", "line 3: field 'json': bad"},
      {"", 3, "", "line 3: bad"},
      {"", 0, "token_ids", "field 'token_ids': bad"},
      {"", 0, "", "bad"},
  };
  for (const Case& c : cases) {
    const InputError e(c.source, c.line, c.field, "bad");
    EXPECT_STREQ(e.what(), c.expected);
    EXPECT_EQ(e.has_location(), std::string(c.source) != "" || c.line > 0) << c.expected;
  }
}

TEST(InputError, WithLocationKeepsFieldAndReason) {
  const InputError bare("", 0, "memory.block_size", "must be in 1..256, got 1024");
  ASSERT_STREQ(bare.what(), "field 'memory.block_size': must be in 1..256, got 1024");
  const InputError located = bare.with_location("exp.ini", 5);
  EXPECT_EQ(located.source(), "exp.ini");
  EXPECT_EQ(located.line(), 5);
  EXPECT_EQ(located.field(), "memory.block_size");
  EXPECT_EQ(located.reason(), "must be in 1..256, got 1024");
  EXPECT_STREQ(located.what(), "exp.ini:5: field 'memory.block_size': must be in 1..256, got 1024");
  EXPECT_STREQ(bare.what(), "field 'memory.block_size': must be in 1..256, got 1024");  // unchanged

  EXPECT_STREQ(bare.with_location("--set", 0).what(),
               "--set: field 'memory.block_size': must be in 1..256, got 1024");
  // A location already there is replaced, not stacked.
  EXPECT_STREQ(located.with_location("other.ini", 9).what(),
               "other.ini:9: field 'memory.block_size': must be in 1..256, got 1024");
  EXPECT_STREQ(InputError("no field").with_location("t.csv", 2).what(), "t.csv:2: no field");
}

TEST(InputError, CopiesShareTheFieldsAndNeverThrow) {
  static_assert(std::is_nothrow_copy_constructible_v<InputError>);
  static_assert(std::is_nothrow_copy_assignable_v<InputError>);
  InputError a("a.ini", 1, "k", "one");
  const InputError b("b.ini", 2, "", "two");
  a = b;
  EXPECT_EQ(a.source(), "b.ini");
  EXPECT_EQ(a.line(), 2);
  EXPECT_EQ(a.field(), "");
  EXPECT_STREQ(a.what(), "b.ini:2: two");
}

TEST(InputError, CatchableAsRuntimeError) {
  try {
    throw InputError("t.csv", 3, "num_decode_tokens", "'abc' is not an integer");
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "t.csv:3: field 'num_decode_tokens': 'abc' is not an integer");
  }
}

}  // namespace
// A quoted 5 MB line or a line of terminal escape codes makes a message a user can read: at
// most kMaxReasonBytes of the reason, control bytes escaped; the fields keep the text whole
// (issue 15, item 8).
TEST(InputErrorText, WhatIsBoundedAndPrintable) {
  const std::string huge(5'000'000, 'x');
  const InputError big("t.csv", 2, "num_prefill_tokens", "not a number: '" + huge + "'");
  EXPECT_LT(std::string(big.what()).size(), 1200u);
  EXPECT_NE(std::string(big.what()).find("more bytes)"), std::string::npos);
  EXPECT_EQ(big.reason(), "not a number: '" + huge + "'");

  const InputError junk("t.csv", 3, "", std::string("not a number: '\x1b[31mred\x07'"));
  EXPECT_EQ(std::string(junk.what()), "t.csv:3: not a number: '\\x1b[31mred\\x07'");
}

}  // namespace kvlab
