// docs/config.md's key tables are what `kvlab list keys --markdown` prints from the keys the
// registry entries and the application declare (core/config_keys.h): the doc keeps them
// between two marker lines, and this test fails when they differ. To update the doc, replace
// the lines between the markers with the output of `build/default/bin/kvlab list keys --markdown`.
//
// The doc holds a build without CUDA (the default preset). A build with the cuda back end
// (what CI builds where nvcc exists) adds `cuda` to backend.kind's values and to the owners of
// the real back ends' keys: the test takes exactly those two additions out of the listing and
// compares the rest, so both builds check the doc.
#include <gtest/gtest.h>

#include <sstream>

#include "core/executor.h"
#include "tests/e2e/e2e_util.h"

namespace kvlab {
namespace {

const char kBegin[] = "<!-- kvlab list keys --markdown: begin (generated; do not edit) -->\n";
const char kEnd[] = "<!-- kvlab list keys --markdown: end -->\n";

// `text` with every occurrence of `what` removed.
std::string erase_all(std::string text, const std::string& what) {
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at)) {
    text.erase(at, what.size());
  }
  return text;
}

// The listing of a CUDA build as a build without it prints it.
std::string without_cuda(const std::string& listing) {
  return erase_all(erase_all(listing, " \\| `cuda`"), ", back end 'cuda'");
}

TEST(ConfigKeysDoc, TablesAreWhatKvlabListKeysPrints) {
  const auto listed = e2e::run_command(e2e::kvlab_binary() + " list keys --markdown");
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  const std::string expected =
      executors().contains("cuda") ? without_cuda(listed.output) : listed.output;

  e2e::expect_generated_block("docs/config.md", kBegin, kEnd, expected,
                              "kvlab list keys --markdown");
}

}  // namespace
}  // namespace kvlab
