// docs/results-format.md's tables are what `kvlab list results` prints from the results schema
// (core/results_schema.h): the doc keeps them between two marker lines, and this test fails
// when they differ. To update the doc, replace the lines between the markers with the output
// of `build/default/bin/kvlab list results`.
#include <gtest/gtest.h>

#include <sstream>

#include "app/results_schema_doc.h"
#include "tests/e2e/e2e_util.h"

namespace kvlab {
namespace {

const char kBegin[] = "<!-- kvlab list results: begin (generated; do not edit) -->\n";
const char kEnd[] = "<!-- kvlab list results: end -->\n";

TEST(ResultsFormatDoc, TablesAreWhatKvlabListResultsPrints) {
  const auto listed = e2e::run_command(e2e::kvlab_binary() + " list results");
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_EQ(listed.output, results_schema_markdown());

  e2e::expect_generated_block("docs/results-format.md", kBegin, kEnd, listed.output,
                              "kvlab list results");
}

}  // namespace
}  // namespace kvlab
