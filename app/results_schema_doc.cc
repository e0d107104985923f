#include "app/results_schema_doc.h"

#include <span>
#include <sstream>
#include <string>

#include "core/results_schema.h"

namespace kvlab {

namespace {

class Table {
 public:
  explicit Table(std::ostringstream& out) : out_(out) {
    out_ << "| name | type | unit | meaning |\n|---|---|---|---|\n";
  }
  void row(const FieldSpec& f, const std::string& prefix = "") {
    out_ << "| `" << f.name << "` | " << value_type_name(f.type) << " | " << f.unit << " | "
         << prefix << f.meaning << " |\n";
  }
  void attribute(const FieldSpec& f, const std::string& meaning) {
    out_ << "| `" << f.name << "` (attribute) | " << value_type_name(f.type) << " | " << f.unit
         << " | " << meaning << " |\n";
  }

 private:
  std::ostringstream& out_;
};

template <typename Row>
void rows(Table& table, std::span<const ColumnSpec<Row>> columns) {
  for (const ColumnSpec<Row>& c : columns) table.row(c.field);
}

}  // namespace

std::string results_schema_markdown() {
  std::ostringstream out;
  out << "### `/`: attributes\n\n";
  {
    Table t(out);
    for (const FieldSpec& f : root_attributes()) t.row(f);
  }
  out << "\n### `/" << results::kPointsGroup << "/NNNN`: one group per sweep point, attributes\n\n";
  {
    Table t(out);
    for (const FieldSpec& f : point_attributes()) t.row(f);
  }
  out << "\n### `" << results::kRequestsGroup
      << "/`: one row per request of the workload, in id (= arrival) order\n\n";
  {
    Table t(out);
    rows(t, request_columns());
    for (const FieldSpec& f : itl_datasets()) t.row(f);
    for (const FieldSpec& f : token_datasets()) t.row(f, "real back ends only: ");
    t.attribute(results::kOutcomeCodes, std::string("\"") + results::kOutcomeCodesValue + "\"");
  }
  out << "\nThe inter-token latencies of request `i` (row `i`) are\n"
         "`itl_s[itl_offsets[i]:itl_offsets[i+1]]`: with one sample, its token times are\n"
         "`first_token_s` plus their running sum. The ids of sample `token_sample[i]` of request\n"
         "`token_request[i]` are `token_ids[token_offsets[i]:token_offsets[i+1]]`.\n";
  out << "\n### `" << results::kStepsGroup << "/`: one row per engine step that ran work\n\n";
  {
    Table t(out);
    rows(t, step_columns());
    t.row(results::kCostColumn, "one column per cost-model term: ");
  }
  out << "\n### `" << results::kReplicasGroup
      << "/`: one row per cluster replica (one for a single engine)\n\n";
  {
    Table t(out);
    rows(t, replica_columns());
    t.row(results::kReplicaSummaryColumn, "one column per summary value but wall_s: ");
  }
  out << "\n### `" << results::kWorkloadGroup
      << "/`: the trace's account of the rows it read and dropped\n\n";
  {
    Table t(out);
    for (const ColumnSpec<WorkloadReport>& c : workload_attributes()) {
      t.attribute(c.field, c.field.meaning);
    }
    for (const FieldSpec& f : workload_datasets()) t.row(f);
  }
  out << "\n### Summary names\n\n| name | unit | meaning |\n|---|---|---|\n";
  for (const SummarySpec& s : summary_specs()) {
    out << "| `" << s.name << "` | " << s.unit << " | " << s.meaning << " |\n";
  }
  std::string dists;
  for (const DistributionSpec& d : summary_distributions()) {
    dists += (dists.empty() ? "" : ", ") + std::string(d.name);
  }
  out << "| `" << kExtraPercentileName << "` | as its distribution | each percentile P of "
      << "output.percentiles other than 50, 90, 99, of " << dists << " (`_s` for times; P's '.' "
      << "as '_': 99.9 gives `" << distribution_percentile_name(summary_distributions()[0], 99.9)
      << "`), after the values above |\n";
  return out.str();
}

}  // namespace kvlab
