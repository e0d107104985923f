// Pins the approximate Llama-2 token-count rule documented in approx_token_count.h, one
// clause at a time, so a change to the rule is a visible, deliberate change.
#include "traces/approx_token_count.h"

#include <gtest/gtest.h>

namespace kvlab {
namespace {

int64_t count(const char* text) { return approx_llama_token_count(text); }

TEST(ApproxTokenCount, WordsUpToSixLettersAreOneToken) {
  EXPECT_EQ(count(""), 0);
  EXPECT_EQ(count("a"), 1);
  EXPECT_EQ(count("Hello world"), 2);
  EXPECT_EQ(count("the quick brown fox jumps over the lazy dog"), 9);
  EXPECT_EQ(count("sixsix"), 1);
}

TEST(ApproxTokenCount, LongerWordsCountAboutFourLettersPerToken) {
  EXPECT_EQ(count("seventh"), 2);               // 7 letters
  EXPECT_EQ(count("abcdefgh"), 2);              // 8
  EXPECT_EQ(count("abcdefghi"), 3);             // 9
  EXPECT_EQ(count("internationalization"), 5);  // 20
}

TEST(ApproxTokenCount, DigitsSplitAndSpaceBeforeNumberIsAPiece) {
  EXPECT_EQ(count("2023"), 4);
  EXPECT_EQ(count("in 2023"), 1 + 1 + 4);
  EXPECT_EQ(count("abc123"), 1 + 3);
}

TEST(ApproxTokenCount, PunctuationRunsCountHalfTheirLength) {
  EXPECT_EQ(count("Hello, world!"), 4);
  EXPECT_EQ(count("..."), 2);
  EXPECT_EQ(count("don't"), 3);
  EXPECT_EQ(count("a+b=c;"), 1 + 1 + 1 + 1 + 1 + 1);
}

TEST(ApproxTokenCount, WhitespaceRules) {
  EXPECT_EQ(count("a b"), 2);      // single spaces are free
  EXPECT_EQ(count("a     b"), 3);  // 5 spaces: ceil(4 / 4) = 1
  EXPECT_EQ(count("a\nb"), 3);     // newline is a token
  EXPECT_EQ(count("a\r\nb"), 3);   // '\r' is free
  EXPECT_EQ(count("\ta"), 2);
}

TEST(ApproxTokenCount, NonAsciiText) {
  EXPECT_EQ(count("caf\xC3\xA9"), 1);               // "café": 4 letters
  EXPECT_EQ(count("\xE4\xBD\xA0\xE5\xA5\xBD"), 3);  // two CJK characters: ceil(6 / 2)
  EXPECT_EQ(count("\xF0\x9F\x98\x80"), 4);          // one emoji: byte fallback
  EXPECT_EQ(count("\xFF"), 1);                      // stray byte
  EXPECT_EQ(count("\xE4\xBD"), 2);                  // truncated sequence: 2 stray bytes
}

TEST(ApproxTokenCount, EnglishProseIsAboutOnePointThreeTokensPerWord) {
  const char* prose =
      "Large language models generate text one token at a time, and serving systems must keep "
      "the attention keys and values of every token in memory until the request finishes. "
      "Paged attention stores this cache in fixed-size blocks, which removes most of the "
      "fragmentation that contiguous allocation causes.";
  int64_t words = 1;
  for (const char* p = prose; *p; ++p) words += *p == ' ' ? 1 : 0;
  const double ratio = static_cast<double>(count(prose)) / static_cast<double>(words);
  EXPECT_GT(ratio, 1.1);
  EXPECT_LT(ratio, 1.6);
}

}  // namespace
}  // namespace kvlab
