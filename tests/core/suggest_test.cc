// did_you_mean and the edit distance under it.
#include "core/suggest.h"

#include <gtest/gtest.h>

#include <memory>

#include "core/errors.h"
#include "core/registry.h"

namespace kvlab {
namespace {

TEST(EditDistance, CountsInsertionsDeletionsSubstitutionsAndTranspositions) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
  EXPECT_EQ(edit_distance("paged", "paged"), 0u);
  EXPECT_EQ(edit_distance("pagd", "paged"), 1u);     // insertion
  EXPECT_EQ(edit_distance("pagged", "paged"), 1u);   // deletion
  EXPECT_EQ(edit_distance("pages", "paged"), 1u);    // substitution
  EXPECT_EQ(edit_distance("memroy", "memory"), 1u);  // transposition
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("ca", "abc"), 3u);       // restricted: no edit of a moved pair
  EXPECT_EQ(edit_distance("Paged", "paged"), 1u);  // case matters
  EXPECT_EQ(edit_distance("abcdef", "badcfe"), 3u);
  EXPECT_EQ(edit_distance("block_size", "blok_size"), edit_distance("blok_size", "block_size"));
}

TEST(DidYouMean, SuggestsTheClosestKnownName) {
  const std::vector<std::string> policies = {"contiguous", "paged"};
  EXPECT_EQ(did_you_mean("pagd", policies), "paged");
  EXPECT_EQ(did_you_mean("pagged", policies), "paged");
  EXPECT_EQ(did_you_mean("contigous", policies), "contiguous");
  EXPECT_EQ(did_you_mean("paged", policies), "paged");
  EXPECT_EQ(did_you_mean("memroy", {"workload", "model", "memory", "sweep"}), "memory");
}

TEST(DidYouMean, NothingWhenNoNameIsClose) {
  EXPECT_EQ(did_you_mean("greedy", {"continuous", "static"}), "");
  EXPECT_EQ(did_you_mean("x", {}), "");
  EXPECT_EQ(did_you_mean("", {"a", "bb"}), "a");  // one insertion is within max(1, 0)
  EXPECT_EQ(did_you_mean("", {"bb"}), "");
}

TEST(DidYouMean, ThresholdGrowsWithTheName) {
  // max(1, size / 3): two edits are allowed from six characters, not from five.
  EXPECT_EQ(did_you_mean("tpu", {"sim", "cpu", "cuda"}), "cpu");  // one edit from three
  EXPECT_EQ(did_you_mean("abcxyf", {"abcdef"}), "abcdef");
  EXPECT_EQ(did_you_mean("abxyf", {"abcdf"}), "");
  EXPECT_EQ(did_you_mean("blok_size", {"policy", "block_size", "reservation"}), "block_size");
  EXPECT_EQ(did_you_mean("max_seqs", {"batching", "max_num_seqs"}), "");  // four edits from eight
}

TEST(DidYouMean, TiesGoToTheNameThatSortsFirst) {
  EXPECT_EQ(did_you_mean("cat", {"hat", "bat", "rat"}), "bat");
  EXPECT_EQ(did_you_mean("cat", {"rat", "hat", "bat"}), "bat");
  EXPECT_EQ(did_you_mean("ab", {"b", "a"}), "a");
  // A closer name wins over one that sorts first.
  EXPECT_EQ(did_you_mean("fp61", {"bf16", "fp16", "fp32"}), "fp16");
}

TEST(UnknownNameMessage, ListsTheKnownNamesAfterTheSuggestion) {
  EXPECT_EQ(unknown_name_message("memory policy", "pagd", {"contiguous", "paged"}),
            "unknown memory policy 'pagd' (did you mean 'paged'?; known: contiguous, paged)");
  EXPECT_EQ(unknown_name_message("scheduler", "greedy", {"continuous", "static"}),
            "unknown scheduler 'greedy' (known: continuous, static)");
  EXPECT_EQ(unknown_name_message("model", "x", {}), "unknown model 'x' (known: )");
}

struct Thing {
  virtual ~Thing() = default;
};

TEST(UnknownNameMessage, RegistriesAndCatalogsSuggest) {
  Registry<Thing, int> registry("memory policy");
  registry.add({.name = "paged", .factory = [](const int&) { return std::make_unique<Thing>(); }});
  registry.add({.name = "contiguous", .factory = [](const int&) { return std::make_unique<Thing>(); }});
  const std::string expected =
      "unknown memory policy 'pagd' (did you mean 'paged'?; known: contiguous, paged)";
  EXPECT_EQ(registry.unknown_message("pagd"), expected);
  try {
    registry.create("pagd", 0);
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.reason(), expected);
    EXPECT_STREQ(e.what(), expected.c_str());
  }

  Catalog<int> catalog("model");
  catalog.add("llama-2-7b", 7);
  catalog.add("llama-2-13b", 13);
  try {
    catalog.get("llama-2-7");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_STREQ(
        e.what(),
        "unknown model 'llama-2-7' (did you mean 'llama-2-7b'?; known: llama-2-13b, llama-2-7b)");
  }
  try {
    catalog.get("gpt-4");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "unknown model 'gpt-4' (known: llama-2-13b, llama-2-7b)");
  }
}

}  // namespace
}  // namespace kvlab
