#include "app/sweep.h"

#include <gtest/gtest.h>

#include "core/errors.h"

namespace kvlab {
namespace {

// The error parsing `text` raises ("no error" when it parses).
std::string message(const std::string& text) {
  try {
    Config::parse(text, "x.ini");
  } catch (const InputError& e) {
    return std::string(e.what());
  }
  return std::string("no error");
}

TEST(Sweep, NoSweepIsOnePointWithoutLabel) {
  const auto points = expand_sweep(Config::parse("[memory]\npolicy = paged\n", "x.ini"));
  ASSERT_EQ(points.size(), 1u);
  EXPECT_EQ(points[0].label, "");
  EXPECT_EQ(points[0].config.get_string("memory.policy"), "paged");
}

TEST(Sweep, CartesianProductInWrittenOrderFirstKeySlowest) {
  const auto points = expand_sweep(Config::parse(
      "[sweep]\nmemory.policy = paged, contiguous\nmemory.block_size = 8, 16, 32\n", "x.ini"));
  ASSERT_EQ(points.size(), 6u);
  const char* expected[] = {
      "memory.policy=paged, memory.block_size=8",       "memory.policy=paged, memory.block_size=16",
      "memory.policy=paged, memory.block_size=32",      "memory.policy=contiguous, memory.block_size=8",
      "memory.policy=contiguous, memory.block_size=16", "memory.policy=contiguous, memory.block_size=32"};
  for (size_t i = 0; i < points.size(); ++i) {
    EXPECT_EQ(points[i].label, expected[i]);
    EXPECT_EQ(points[i].index, i);
    EXPECT_TRUE(points[i].config.sweep().empty());
  }
  EXPECT_EQ(points[4].config.get_int("memory.block_size"), 16);
  EXPECT_EQ(points[4].config.get_string("memory.policy"), "contiguous");
}

TEST(Sweep, ZippedKeysVaryTogetherAndCrossOtherAxes) {
  const auto points = expand_sweep(Config::parse(
      "[sweep]\nmemory.policy + memory.reservation = contiguous:max, contiguous:oracle, paged:max\n"
      "memory.block_size = 8, 16\n",
      "x.ini"));
  ASSERT_EQ(points.size(), 6u);
  EXPECT_EQ(points[0].label, "memory.policy=contiguous, memory.reservation=max, memory.block_size=8");
  EXPECT_EQ(points[3].label, "memory.policy=contiguous, memory.reservation=oracle, memory.block_size=16");
  EXPECT_EQ(points[5].label, "memory.policy=paged, memory.reservation=max, memory.block_size=16");
  EXPECT_EQ(points[3].config.get_string("memory.reservation"), "oracle");
  EXPECT_EQ(points[4].config.get_string("memory.policy"), "paged");
}

TEST(Sweep, DisplayLabelsKeepOnlyTheKeysThatApply) {
  const auto points = expand_sweep(Config::parse(
      "[sweep]\nmemory.policy + memory.reservation = contiguous:max, paged:max\n"
      "memory.block_size = 8, 16\nworkload.rate = 2\n",
      "x.ini"));
  ASSERT_EQ(points.size(), 4u);
  EXPECT_EQ(points[0].axes, (std::vector<std::string>{"memory.policy+memory.reservation",
                                                      "memory.block_size", "workload.rate"}));
  // block_size means nothing to contiguous memory, reservation nothing to paged; the
  // policy, a selector, shows its value alone.
  EXPECT_EQ(points[0].axis_labels,
            (std::vector<std::string>{"contiguous, reservation=max", "memory.block_size=8",
                                      "rate=2"}));
  EXPECT_EQ(points[3].axis_labels,
            (std::vector<std::string>{"paged", "block_size=16", "rate=2"}));
  EXPECT_EQ(points[3].display_label(), "paged, block_size=16, rate=2");
  // The stored label stays every key=value.
  EXPECT_EQ(points[3].label, "memory.policy=paged, memory.reservation=max, memory.block_size=16, "
                             "workload.rate=2");
}

TEST(Sweep, QuotedLabelsNameValuesAndMayHoldCommas) {
  Config c = Config::parse(
      "[sweep]\nmemory.policy + memory.reservation = contiguous:max \"Orca (Max)\", "
      "contiguous:pow2 \"Orca (Pow2)\" , paged:max \"vLLM (paged, 16) # 1\"  # a comment\n"
      "workload.rate = 1, 2\n",
      "x.ini");
  auto points = expand_sweep(c);
  ASSERT_EQ(points.size(), 6u);
  EXPECT_EQ(points[0].axis_labels, (std::vector<std::string>{"Orca (Max)", "rate=1"}));
  EXPECT_EQ(points[5].display_label(), "vLLM (paged, 16) # 1, rate=2");
  EXPECT_EQ(points[5].label, "memory.policy=paged, memory.reservation=max, workload.rate=2");
  EXPECT_EQ(points[2].config.get_string("memory.reservation"), "pow2");
  // Pinning a zipped key keeps the labels of the tuples that remain.
  c.set_override("memory.policy=contiguous");
  points = expand_sweep(c);
  ASSERT_EQ(points.size(), 4u);  // max, pow2 (paged:max became max: run once)
  EXPECT_EQ(points[2].axis_labels[0], "Orca (Pow2)");
  // --set sweep.* takes labels too.
  c.set_override("sweep.workload.rate=1 \"low\", 4 \"high, bursty\"");
  points = expand_sweep(c);
  EXPECT_EQ(points[1].axis_labels[1], "high, bursty");
}

TEST(Sweep, BadLabelsNameTheLine) {
  const std::string unterminated = message("[sweep]\n\nworkload.rate = 1 \"one, 2\n");
  EXPECT_NE(unterminated.find("x.ini:3"), std::string::npos) << unterminated;
  EXPECT_NE(unterminated.find("unterminated label"), std::string::npos) << unterminated;
  EXPECT_NE(message("[sweep]\nworkload.rate = \"one\", 2\n").find("without a value"),
            std::string::npos);
  EXPECT_NE(message("[sweep]\nworkload.rate = 1 \"\", 2\n").find("empty label"),
            std::string::npos);
  EXPECT_NE(message("[sweep]\nworkload.rate = 1 \"a\" \"b\"\n").find("a second label"),
            std::string::npos);
  EXPECT_NE(message("[sweep]\nworkload.rate = 1 \"a\" 3, 2\n").find("text after the label"),
            std::string::npos);
  EXPECT_NE(message("[sweep]\nworkload.rate = 1\"a\"\n").find("a quote inside"),
            std::string::npos);
}

TEST(Sweep, ZippedAxisErrorsNameTheLine) {
  const std::string parts =
      message("[sweep]\n\nmemory.policy+memory.reservation = contiguous:max, paged\n");
  EXPECT_NE(parts.find("x.ini:3"), std::string::npos) << parts;
  EXPECT_NE(parts.find("'paged' has 1 part(s)"), std::string::npos) << parts;
  const std::string twice =
      message("[sweep]\nmemory.policy = paged, contiguous\nmemory.policy+memory.reservation = paged:max\n");
  EXPECT_NE(twice.find("x.ini:3"), std::string::npos) << twice;
  EXPECT_NE(twice.find("swept twice (also in sweep.memory.policy on line 2)"), std::string::npos)
      << twice;
  EXPECT_NE(message("[sweep]\nmemory.policy+memory.bogus = a:b\n").find("unknown key"),
            std::string::npos);
  EXPECT_NE(message("[sweep]\nmemory.policy+ = a:b\n").find("empty key"), std::string::npos);
  EXPECT_NE(message("[sweep]\nmemory.policy+memory.reservation = paged:\n").find("empty part"),
            std::string::npos);
}

TEST(Sweep, PinningAZippedKeyDropsItAndRunsEqualTuplesOnce) {
  Config c = Config::parse(
      "[sweep]\nmemory.policy + memory.reservation = contiguous:max, contiguous:oracle, paged:max\n",
      "x.ini");
  c.set_override("memory.policy=paged");
  const auto points = expand_sweep(c);
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0].label, "memory.reservation=max");
  EXPECT_EQ(points[1].label, "memory.reservation=oracle");
  EXPECT_EQ(points[1].config.get_string("memory.policy"), "paged");
}

TEST(Sweep, SetSweepReplacesEveryAxisSharingAKeyInPlace) {
  Config c = Config::parse(
      "[sweep]\nmemory.policy = paged, contiguous\nmemory.block_size = 8, 16\n", "x.ini");
  c.set_override("sweep.memory.policy+memory.reservation=contiguous:pow2,paged:max");
  const auto points = expand_sweep(c);
  ASSERT_EQ(points.size(), 4u);
  EXPECT_EQ(points[0].label, "memory.policy=contiguous, memory.reservation=pow2, memory.block_size=8");
  EXPECT_EQ(points[3].label, "memory.policy=paged, memory.reservation=max, memory.block_size=16");
}

TEST(Sweep, ABadSweptValueNamesItsSweepLine) {
  const auto points = expand_sweep(
      Config::parse("[memory]\npolicy = paged\n[sweep]\nmemory.block_size = 16, many\n", "x.ini"));
  ASSERT_EQ(points.size(), 2u);
  try {
    (void)points[1].config.get_int("memory.block_size");
    FAIL() << "no error for block_size=many";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("x.ini:4"), std::string::npos) << e.what();
  }
}

TEST(Sweep, ShardsPartitionThePoints) {
  const Shard s = parse_shard("1/3");
  EXPECT_EQ(s.index, 1u);
  EXPECT_EQ(s.count, 3u);
  EXPECT_FALSE(s.contains(0));
  EXPECT_TRUE(s.contains(1));
  EXPECT_TRUE(s.contains(4));
  for (const char* bad : {"3/3", "x/2", "1/0", "2", "-1/2", "1/"}) {
    EXPECT_THROW(parse_shard(bad), InputError) << bad;
  }
}

}  // namespace
}  // namespace kvlab
