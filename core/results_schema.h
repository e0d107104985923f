// The results schema: every group, dataset, attribute and summary value of kvlab's result
// files, each with its HDF5 type, unit and one-line meaning, described once.
//
// Who reads it: the HDF5 writer writes the tables column by column from it and `kvlab merge`
// checks shards against it (app/results_writer.cc); summarize() computes the summary values
// it lists, in its order (core/metrics.cc); `kvlab list results` prints it as the tables of
// docs/results-format.md (app/results_schema_doc.h), and a test holds the two equal. Adding a
// column or a summary value is one entry here.
//
// Everything here is immutable static data: safe to read from any thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/metrics.h"

namespace kvlab {

enum class ValueType { kInt8, kInt32, kInt64, kUint64, kFloat32, kFloat64, kString };

// "int8", "int32", "int64", "uint64", "float32", "float64", "string".
const char* value_type_name(ValueType type);

// One named value of the file: a dataset or an attribute.
struct FieldSpec {
  const char* name;
  ValueType type;
  const char* unit;     // "" when it has none
  const char* meaning;  // one line
};

// A row's value in one column: integers of every width as int64, float64 as double.
using Cell = std::variant<int64_t, double, std::string>;

// A column of a table with one row per `Row`: its description and the row's value.
template <typename Row>
struct ColumnSpec {
  FieldSpec field;
  Cell (*get)(const Row&);
};

// One summary value (an HDF5 attribute of its point, float64; a key of --summary-json).
struct SummarySpec {
  const char* name;
  const char* unit;
  const char* meaning;
  double (*value)(const RunTotals&);
  bool from_workload = false;  // depends only on RunResult::workload (summarize_workload)
};

namespace results {

// -2: config attributes typed by their keys' declarations (-1 stored every one as a string).
inline constexpr const char* kFormatName = "kvlab-results-2";
inline constexpr const char* kVersion = "0.1.0";

// Groups: /points/NNNN/{requests,steps,workload}.
inline constexpr const char* kPointsGroup = "points";
inline constexpr const char* kRequestsGroup = "requests";
inline constexpr const char* kStepsGroup = "steps";
inline constexpr const char* kWorkloadGroup = "workload";
inline constexpr const char* kReplicasGroup = "replicas";

// The root's attributes.
inline constexpr FieldSpec kKvlabVersion{"kvlab_version", ValueType::kString, "",
                                         "the kvlab that wrote the file"};
inline constexpr FieldSpec kFormat{"format", ValueType::kString, "",
                                   "the layout's name and version: kvlab-results-2"};
inline constexpr FieldSpec kCreated{"created", ValueType::kString, "UTC ISO 8601",
                                    "when the file was written (or merged)"};
inline constexpr FieldSpec kCommand{"command", ValueType::kString, "",
                                    "the command line that wrote the file"};
inline constexpr FieldSpec kConfigPath{"config_path", ValueType::kString, "",
                                       "the experiment file"};
inline constexpr FieldSpec kNumPoints{"num_points", ValueType::kInt64, "points",
                                      "point groups in this file"};
inline constexpr FieldSpec kSweepSize{
    "sweep_size", ValueType::kInt64, "points",
    "points in the whole sweep (more than num_points in a shard)"};

// A point group's attributes, besides one string per resolved config key and one float64 per
// summary value (kConfigAttribute, kSummaryAttribute: patterns, for the docs).
inline constexpr FieldSpec kLabel{"label", ValueType::kString, "",
                                  "the sweep values, \"memory.policy=paged, memory.block_size=16\" "
                                  "(\"\" without a sweep)"};
inline constexpr FieldSpec kDisplayLabel{
    "display_label", ValueType::kString, "",
    "the point's name for plots and tables: axis_labels joined by \", \" (\"Orca (Max), "
    "rate=2\"; \"\" without a sweep)"};
inline constexpr FieldSpec kAxes{"axes", ValueType::kString, "",
                                 "array, one per [sweep] axis in order: its keys joined by '+' "
                                 "(\"memory.policy+memory.reservation\")"};
inline constexpr FieldSpec kAxisLabels{
    "axis_labels", ValueType::kString, "",
    "array, one per axis: the value's label from the [sweep] line (`paged:16 \"vLLM\"`), else "
    "the values of the axis's keys that apply to this point (\"paged\", \"block_size=16\")"};
inline constexpr FieldSpec kPointIndex{"point_index", ValueType::kInt64, "",
                                       "index in the sweep, first [sweep] key slowest (the group's "
                                       "name, zero-padded to four digits)"};
inline constexpr FieldSpec kConfigAttribute{
    "<section.key>", ValueType::kString, "",
    "every resolved config key, typed by its declaration (kvlab list keys): an integer key "
    "int64, a number float64, a true-or-false key a bool (int8 enum FALSE/TRUE, numpy's bool), "
    "text and choices a string (\"memory.policy\" = \"paged\", \"memory.block_size\" = 16)"};
inline constexpr FieldSpec kSummaryAttribute{"<summary name>", ValueType::kFloat64, "",
                                             "every summary value (Summary names)"};
inline constexpr FieldSpec kOutputDigest{"output_digest", ValueType::kUint64, "",
                                         "FNV-1a of every finished request's generated ids (real "
                                         "back ends; 0 in simulation)"};

// The requests group's attribute and its value.
inline constexpr FieldSpec kOutcomeCodes{"outcome_codes", ValueType::kString, "",
                                         "the codes of the outcome column"};
inline constexpr const char* kOutcomeCodesValue = "0 finished, 1 rejected, 2 unfinished";

// The requests group's generated ids (real back ends only), in CSR form (the docs spell out
// how to read them: app/results_schema_doc.cc).
inline constexpr FieldSpec kTokenIds{"token_ids", ValueType::kInt32, "token ids",
                                     "every sample's generated ids, concatenated"};
inline constexpr FieldSpec kTokenOffsets{"token_offsets", ValueType::kInt64, "index",
                                         "where each sample's ids start in token_ids (one more "
                                         "entry than samples)"};
inline constexpr FieldSpec kTokenRequest{"token_request", ValueType::kInt64, "",
                                         "the request (id) of each sample"};
inline constexpr FieldSpec kTokenSample{"token_sample", ValueType::kInt32, "",
                                        "the sample's index within its request"};

// The requests group's inter-token latencies, in CSR form (every back end): one gap per
// generated token after each sample's first, as float32 (7 significant digits; the summary's
// itl_* values are computed from these same floats).
inline constexpr FieldSpec kItl{"itl_s", ValueType::kFloat32, "s",
                                "inter-token latencies: each sample's gaps between consecutive "
                                "tokens, samples of a request one after another"};
inline constexpr FieldSpec kItlOffsets{"itl_offsets", ValueType::kInt64, "index",
                                       "where each request's gaps start in itl_s (one more "
                                       "entry than requests)"};

// The replicas group's summary columns: each summary value of each replica.
inline constexpr FieldSpec kReplicaSummaryColumn{
    "<summary name>", ValueType::kFloat64, "",
    "every summary value (Summary names), of the replica's own requests and steps"};

// The steps group's cost columns: one per cost-model term, named by cost_column().
inline constexpr FieldSpec kCostColumn{"cost_<term>_s", ValueType::kFloat64, "s",
                                       "the step's seconds in one cost-model term (roofline: gemm, "
                                       "attention, swap, copy, allreduce, overhead; vmm for a "
                                       "policy that maps pages; pipeline_send, pipeline_bubble "
                                       "with model.pipeline_parallel > 1; cpu back end with "
                                       "model.tensor_parallel > 1: collective, the ranks' measured "
                                       "collectives; profiled: gemm, elementwise, attention, "
                                       "sampling, swap, copy, overhead)"};

// The workload group's datasets (its attributes are workload_attributes()).
inline constexpr FieldSpec kBadRowMessages{"bad_row_messages", ValueType::kString, "",
                                           "the first few malformed rows' messages"};
inline constexpr FieldSpec kDroppedByFormatReason{
    "dropped_by_format_reason", ValueType::kString, "",
    "why a format's own rules dropped entries (ShareGPT with < 2 turns, vLLM pruning)"};
inline constexpr FieldSpec kDroppedByFormatCount{"dropped_by_format_count", ValueType::kInt64,
                                                 "rows", "entries dropped for that reason"};

}  // namespace results

// The requests table: one row per request of the workload, in id (= arrival) order.
std::span<const ColumnSpec<RequestRecord>> request_columns();

// The steps table's fixed columns: one row per engine step that ran work. The cost columns
// follow them (results::kCostColumn).
std::span<const ColumnSpec<StepRecord>> step_columns();

// The replicas table's fixed columns: one row per cluster replica (one for a single engine).
// One float64 column per summary value follows them: the replica's own summary
// (results::kReplicaSummaryColumn).
std::span<const ColumnSpec<ReplicaResult>> replica_columns();

// "cost_" + term + "_s": the steps column of one cost-model term (RunResult::term_names).
std::string cost_column(const std::string& term);

// The workload group's attributes: the trace's account of the rows it read and dropped.
std::span<const ColumnSpec<WorkloadReport>> workload_attributes();

// The summary values, in the order they are computed, written and printed.
std::span<const SummarySpec> summary_specs();

// A distribution the summary gives percentiles of (RunTotals' Distributions). Its mean, p50,
// p90 and p99 are fixed summary values, named "<name>_mean<suffix>", "<name>_p50<suffix>", ...
// (summary_specs(); batch_size has no mean there: mean_batch_size is time-weighted). Every
// other percentile P of output.percentiles adds "<name>_p<P><suffix>" to the summary, after the
// fixed values, P written by percentile_label.
struct DistributionSpec {
  const char* name;    // "ttft"
  const char* suffix;  // "_s", or "" for a count
  double (*percentile)(const RunTotals&, double p);
};
std::span<const DistributionSpec> summary_distributions();
// True for the percentiles every summary has (50, 90, 99).
bool is_fixed_percentile(double p);
// P as a name part: the shortest decimal, '.' as '_' (99.9 -> "99_9", 50 -> "50").
std::string percentile_label(double p);
// "<name>_p<percentile_label(p)><suffix>".
std::string distribution_percentile_name(const DistributionSpec& d, double p);
// The pattern of those names, for the docs.
inline constexpr const char* kExtraPercentileName = "<dist>_p<P>[_s]";

// For the docs, in order: the root's attributes, a point's attributes, the requests group's
// generated-id datasets and the workload group's datasets.
std::span<const FieldSpec> root_attributes();
std::span<const FieldSpec> point_attributes();
std::span<const FieldSpec> token_datasets();
std::span<const FieldSpec> itl_datasets();
std::span<const FieldSpec> workload_datasets();

// "0000", "0001", ...: the group of a point under /points.
std::string point_group_name(size_t point_index);

}  // namespace kvlab
