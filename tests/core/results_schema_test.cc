// The results schema: names unique within each table, descriptions that print as markdown
// table cells, and summarize() computing exactly the schema's summary values in its order.
#include "core/results_schema.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace kvlab {
namespace {

void expect_printable(const FieldSpec& f) {
  EXPECT_FALSE(std::string(f.name).empty());
  EXPECT_FALSE(std::string(f.meaning).empty()) << f.name;
  for (const char* text : {f.name, f.unit, f.meaning}) {
    EXPECT_EQ(std::string(text).find('|'), std::string::npos) << f.name;
  }
}

template <typename Row>
std::set<std::string> column_names(std::span<const ColumnSpec<Row>> columns) {
  std::set<std::string> names;
  for (const ColumnSpec<Row>& c : columns) {
    expect_printable(c.field);
    EXPECT_TRUE(names.insert(c.field.name).second) << "twice: " << c.field.name;
  }
  return names;
}

TEST(ResultsSchema, NamesAreUniqueWithinEachGroup) {
  std::set<std::string> requests = column_names(request_columns());
  for (const FieldSpec& f : token_datasets()) {
    expect_printable(f);
    EXPECT_TRUE(requests.insert(f.name).second) << "twice: " << f.name;
  }
  const std::set<std::string> steps = column_names(step_columns());
  EXPECT_FALSE(steps.count(cost_column("gemm")));
  std::set<std::string> workload = column_names(workload_attributes());
  for (const FieldSpec& f : workload_datasets()) {
    expect_printable(f);
    EXPECT_TRUE(workload.insert(f.name).second) << "twice: " << f.name;
  }
  std::set<std::string> point;
  for (const FieldSpec& f : point_attributes()) {
    expect_printable(f);
    EXPECT_TRUE(point.insert(f.name).second) << "twice: " << f.name;
  }
  for (const SummarySpec& s : summary_specs()) {
    EXPECT_TRUE(point.insert(s.name).second) << "summary name taken: " << s.name;
    EXPECT_EQ(std::string(s.meaning).find('|'), std::string::npos) << s.name;
  }
  std::set<std::string> root;
  for (const FieldSpec& f : root_attributes()) EXPECT_TRUE(root.insert(f.name).second) << f.name;
}

TEST(ResultsSchema, SummarizeComputesTheSchemasValuesInItsOrder) {
  RunResult run;
  RequestRecord r;
  r.arrival_s = 0;
  r.first_token_s = 1;
  r.finish_s = 3;
  r.output_len = 3;
  r.generated_tokens = 3;
  r.outcome = RequestOutcome::kFinished;
  run.requests = {r};
  const Summary s = summarize(run, 64, 0.25);
  ASSERT_EQ(s.values.size(), summary_specs().size());
  for (size_t i = 0; i < s.values.size(); ++i) EXPECT_EQ(s.values[i].first, summary_specs()[i].name);
  EXPECT_EQ(s.get("kv_capacity_slots"), 64);
  EXPECT_EQ(s.get("wall_s"), 0.25);
}

TEST(ResultsSchema, SummarizeWorkloadSetsOnlyTheWorkloadsValues) {
  RunResult run;
  run.summary = summarize(run, 64, 0.25);
  run.workload.bad_rows_skipped = 4;
  run.workload.filtered_prompt_len = 2;
  run.workload.dropped_by_format = {{"short", 3}};
  summarize_workload(run);
  EXPECT_EQ(run.summary.get("num_bad_rows_skipped"), 4);
  EXPECT_EQ(run.summary.get("num_filtered"), 2);
  EXPECT_EQ(run.summary.get("num_dropped_by_format"), 3);
  EXPECT_EQ(run.summary.get("kv_capacity_slots"), 64);
  EXPECT_EQ(run.summary.get("wall_s"), 0.25);
  EXPECT_EQ(run.summary.values.size(), summary_specs().size());
}

TEST(ResultsSchema, PointGroupsAreZeroPadded) {
  EXPECT_EQ(point_group_name(0), "0000");
  EXPECT_EQ(point_group_name(42), "0042");
  EXPECT_EQ(point_group_name(12345), "12345");
}

}  // namespace
}  // namespace kvlab
