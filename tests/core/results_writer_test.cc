#include "app/results_writer.h"

#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/results_schema.h"

#include "core/errors.h"

namespace kvlab {
namespace {

RunResult sample_point(const std::string& label, int num_requests, size_t index = 0) {
  RunResult r;
  r.label = label;
  r.point_index = index;
  r.sweep_size = 2;
  r.config = {{"memory.policy", "paged"}, {"memory.block_size", "16"}};
  r.term_names = {"gemm", "overhead"};
  for (int i = 0; i < num_requests; ++i) {
    RequestRecord q;
    q.id = i;
    q.arrival_s = i * 0.5;
    q.first_token_s = i * 0.5 + 0.1;
    q.finish_s = i * 0.5 + 1;
    q.prompt_len = 10 + i;
    q.output_len = 5;
    q.generated_tokens = 5;
    q.outcome = i == 1 ? RequestOutcome::kRejected : RequestOutcome::kFinished;
    if (i == 1) q.reject_reason = "too long";
    r.requests.push_back(q);
  }
  for (int s = 0; s < 3; ++s) {
    StepRecord st;
    st.time_s = s;
    st.duration_s = 1;
    st.batch_size = s + 1;
    st.memory = MemoryBreakdown{s, 1, 2, 0, 97 - s, 100};
    st.terms = {0.25 * s, 0.002};
    r.steps.push_back(st);
  }
  r.workload.source = "t.csv";
  r.workload.format = "length-csv";
  r.workload.rows_read = 7;
  r.workload.filtered_prompt_len = 2;
  r.summary = summarize(r, 100, 0.1);
  return r;
}

double read_double_attr(hid_t obj, const char* name) {
  double v = -1;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  EXPECT_GE(a, 0) << name;
  H5Aread(a, H5T_NATIVE_DOUBLE, &v);
  H5Aclose(a);
  return v;
}

std::string read_string_attr(hid_t obj, const char* name) {
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  EXPECT_GE(a, 0) << name;
  hid_t t = H5Aget_type(a);
  char* p = nullptr;
  H5Aread(a, t, &p);
  std::string s = p ? p : "";
  H5free_memory(p);
  H5Tclose(t);
  H5Aclose(a);
  return s;
}

template <typename T>
std::vector<T> read_column(hid_t file, const std::string& path, hid_t type) {
  hid_t d = H5Dopen2(file, path.c_str(), H5P_DEFAULT);
  EXPECT_GE(d, 0) << path;
  hid_t space = H5Dget_space(d);
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space, &n, nullptr);
  std::vector<T> v(n);
  if (n) H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
  H5Sclose(space);
  H5Dclose(d);
  return v;
}

TEST(ResultsWriter, WritesPointsWithConfigSummaryAndTables) {
  const std::string path = testing::TempDir() + "/kvlab_results_test.h5";
  write_results_hdf5(path, {sample_point("memory.block_size=16", 3, 0), sample_point("b", 10000, 1)},
                     ResultsMeta{"kvlab run x.ini", "x.ini"});
  EXPECT_FALSE(std::ifstream(path + ".partial").good());
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  EXPECT_EQ(read_string_attr(f, "command"), "kvlab run x.ini");
  hid_t p0 = H5Gopen2(f, "points/0000", H5P_DEFAULT);
  ASSERT_GE(p0, 0);
  EXPECT_EQ(read_string_attr(p0, "label"), "memory.block_size=16");
  EXPECT_EQ(read_string_attr(p0, "memory.policy"), "paged");
  EXPECT_DOUBLE_EQ(read_double_attr(p0, "num_rejected"), 1);
  EXPECT_DOUBLE_EQ(read_double_attr(p0, "num_requests"), 3);
  H5Gclose(p0);
  EXPECT_EQ(read_column<int32_t>(f, "points/0000/requests/prompt_len", H5T_NATIVE_INT32),
            (std::vector<int32_t>{10, 11, 12}));
  EXPECT_EQ(read_column<int8_t>(f, "points/0000/requests/outcome", H5T_NATIVE_INT8),
            (std::vector<int8_t>{0, 1, 0}));
  EXPECT_EQ(read_column<int64_t>(f, "points/0000/steps/kv_free", H5T_NATIVE_INT64),
            (std::vector<int64_t>{97, 96, 95}));
  EXPECT_EQ(read_column<double>(f, "points/0000/steps/cost_gemm_s", H5T_NATIVE_DOUBLE),
            (std::vector<double>{0, 0.25, 0.5}));
  // A large point is chunked and compressed but reads back the same.
  const auto ids = read_column<int64_t>(f, "points/0001/requests/id", H5T_NATIVE_INT64);
  ASSERT_EQ(ids.size(), 10000u);
  EXPECT_EQ(ids[9999], 9999);
  H5Fclose(f);
  std::remove(path.c_str());
}

// Whether HDF5 type `type` is how the writer stores schema type `t`.
bool stored_as(hid_t type, ValueType t) {
  switch (t) {
    case ValueType::kInt8: return H5Tequal(type, H5T_NATIVE_INT8) > 0;
    case ValueType::kInt32: return H5Tequal(type, H5T_NATIVE_INT32) > 0;
    case ValueType::kInt64: return H5Tequal(type, H5T_NATIVE_INT64) > 0;
    case ValueType::kUint64: return H5Tequal(type, H5T_NATIVE_UINT64) > 0;
    case ValueType::kFloat32: return H5Tequal(type, H5T_NATIVE_FLOAT) > 0;
    case ValueType::kFloat64: return H5Tequal(type, H5T_NATIVE_DOUBLE) > 0;
    case ValueType::kString: return H5Tget_class(type) == H5T_STRING;
  }
  return false;
}

// The type of the dataset at `path` is the schema's; false when it is absent.
bool dataset_is(hid_t file, const std::string& path, const FieldSpec& f) {
  hid_t d = H5Dopen2(file, path.c_str(), H5P_DEFAULT);
  if (d < 0) return false;
  hid_t t = H5Dget_type(d);
  const bool ok = stored_as(t, f.type);
  H5Tclose(t);
  H5Dclose(d);
  return ok;
}

bool attribute_is(hid_t object, const FieldSpec& f) {
  hid_t a = H5Aopen(object, f.name, H5P_DEFAULT);
  if (a < 0) return false;
  hid_t t = H5Aget_type(a);
  const bool ok = stored_as(t, f.type);
  H5Tclose(t);
  H5Aclose(a);
  return ok;
}

TEST(ResultsWriter, EveryDatasetAndAttributeHasTheSchemasType) {
  RunResult p = sample_point("a", 3);
  p.has_token_ids = true;
  for (RequestRecord& q : p.requests) q.token_ids = {{1, 2}, {3}};
  p.requests[0].itl_s = {0.5f, 0.25f};
  p.requests[2].itl_s = {0.125f};
  p.workload.bad_row_messages = {"line 3: bad"};
  p.workload.dropped_by_format = {{"fewer than two turns", 2}};
  const std::string path = testing::TempDir() + "/kvlab_schema_types.h5";
  write_results_hdf5(path, {p}, ResultsMeta{"kvlab run x.ini", "x.ini"});
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  for (const FieldSpec& a : root_attributes()) EXPECT_TRUE(attribute_is(f, a)) << a.name;
  const std::string point = std::string(results::kPointsGroup) + "/" + point_group_name(0);
  hid_t g = H5Gopen2(f, point.c_str(), H5P_DEFAULT);
  for (const FieldSpec* a : {&results::kLabel, &results::kPointIndex, &results::kOutputDigest}) {
    EXPECT_TRUE(attribute_is(g, *a)) << a->name;
  }
  for (const SummarySpec& s : summary_specs()) {
    EXPECT_TRUE(attribute_is(g, {s.name, ValueType::kFloat64, "", ""})) << s.name;
  }
  H5Gclose(g);
  const std::string requests = point + "/" + results::kRequestsGroup + "/";
  for (const auto& c : request_columns()) {
    EXPECT_TRUE(dataset_is(f, requests + c.field.name, c.field)) << c.field.name;
  }
  for (const FieldSpec& d : token_datasets()) EXPECT_TRUE(dataset_is(f, requests + d.name, d)) << d.name;
  for (const FieldSpec& d : itl_datasets()) EXPECT_TRUE(dataset_is(f, requests + d.name, d)) << d.name;
  EXPECT_EQ(read_column<float>(f, requests + results::kItl.name, H5T_NATIVE_FLOAT),
            (std::vector<float>{0.5f, 0.25f, 0.125f}));
  EXPECT_EQ(read_column<int64_t>(f, requests + results::kItlOffsets.name, H5T_NATIVE_INT64),
            (std::vector<int64_t>{0, 2, 2, 3}));
  const std::string steps = point + "/" + results::kStepsGroup + "/";
  for (const auto& c : step_columns()) {
    EXPECT_TRUE(dataset_is(f, steps + c.field.name, c.field)) << c.field.name;
  }
  EXPECT_TRUE(dataset_is(f, steps + cost_column("gemm"), results::kCostColumn));
  const std::string workload = point + "/" + results::kWorkloadGroup;
  g = H5Gopen2(f, workload.c_str(), H5P_DEFAULT);
  for (const auto& c : workload_attributes()) EXPECT_TRUE(attribute_is(g, c.field)) << c.field.name;
  H5Gclose(g);
  for (const FieldSpec& d : workload_datasets()) {
    EXPECT_TRUE(dataset_is(f, workload + "/" + d.name, d)) << d.name;
  }
  EXPECT_EQ(read_column<int64_t>(f, requests + results::kTokenOffsets.name, H5T_NATIVE_INT64),
            (std::vector<int64_t>{0, 2, 3, 5, 6, 8, 9}));
  H5Fclose(f);
  std::remove(path.c_str());
}

TEST(ResultsWriter, MergeRefusesAShardLackingASchemaColumn) {
  const std::string dir = testing::TempDir() + "/";
  const std::string shard0 = dir + "kvlab_merge_shard0.h5", shard1 = dir + "kvlab_merge_shard1.h5";
  const std::string out = dir + "kvlab_merge_out.h5";
  write_results_hdf5(shard0, {sample_point("a", 3, 0)}, ResultsMeta{});
  write_results_hdf5(shard1, {sample_point("b", 3, 1)}, ResultsMeta{});
  merge_results_hdf5(out, {shard1, shard0}, "kvlab merge");
  EXPECT_TRUE(std::ifstream(out).good());
  std::remove(out.c_str());

  hid_t f = H5Fopen(shard1.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  ASSERT_GE(H5Ldelete(f, "points/0001/steps/kv_free", H5P_DEFAULT), 0);
  H5Fclose(f);
  try {
    merge_results_hdf5(out, {shard0, shard1}, "kvlab merge");
    ADD_FAILURE() << "merged a shard without steps/kv_free";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("kv_free"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(shard1), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::ifstream(out).good());
  std::remove(shard0.c_str());
  std::remove(shard1.c_str());
}

TEST(ResultsWriter, FailureLeavesNoFile) {
  const std::string path = "/nonexistent-dir/kvlab.h5";
  EXPECT_ANY_THROW(write_results_hdf5(path, {sample_point("a", 2)}, ResultsMeta{}));
  EXPECT_FALSE(std::ifstream(path).good());
  EXPECT_FALSE(std::ifstream(path + ".partial").good());
}

TEST(ResultsWriter, MergeErrorsNameTheCommandOrTheShard) {
  const std::string out = testing::TempDir() + "/kvlab_merge_never.h5";
  try {
    merge_results_hdf5(out, {}, "kvlab merge");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.source(), "kvlab merge");
    EXPECT_STREQ(e.what(), "kvlab merge: no shard files given");
  }
  const std::string missing = testing::TempDir() + "/kvlab_no_such_shard.h5";
  try {
    merge_results_hdf5(out, {missing}, "kvlab merge");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.source(), missing);
    EXPECT_EQ(e.reason(), "cannot open as a kvlab HDF5 result file");
  }
  EXPECT_FALSE(std::ifstream(out).good());
}

// A shard HDF5 opens but that fails inside (its points group a dangling link or a dataset) is
// an InputError naming the shard, not an internal error. Found by fuzz_merge_shard (issue 15).
TEST(ResultsWriter, MergeRefusesADamagedShardNamingIt) {
  const std::string dir = testing::TempDir() + "/";
  const std::string shard = dir + "kvlab_damaged_shard.h5", out = dir + "kvlab_damaged_out.h5";
  for (const bool as_dataset : {false, true}) {
    write_results_hdf5(shard, {sample_point("a", 3, 0)}, ResultsMeta{});
    hid_t f = H5Fopen(shard.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    ASSERT_GE(H5Ldelete(f, results::kPointsGroup, H5P_DEFAULT), 0);
    if (as_dataset) {
      const hsize_t n = 1;
      hid_t space = H5Screate_simple(1, &n, nullptr);
      hid_t d = H5Dcreate2(f, results::kPointsGroup, H5T_NATIVE_INT, space, H5P_DEFAULT,
                           H5P_DEFAULT, H5P_DEFAULT);
      ASSERT_GE(d, 0);
      H5Dclose(d);
      H5Sclose(space);
    } else {
      ASSERT_GE(H5Lcreate_soft("/nowhere", f, results::kPointsGroup, H5P_DEFAULT, H5P_DEFAULT), 0);
    }
    H5Fclose(f);
    try {
      merge_results_hdf5(out, {shard}, "kvlab merge");
      ADD_FAILURE() << "merged a damaged shard";
    } catch (const InputError& e) {
      EXPECT_EQ(e.source(), shard);
      EXPECT_EQ(e.reason().rfind("damaged kvlab result file: ", 0), 0u) << e.what();
    }
    EXPECT_FALSE(std::ifstream(out).good());
  }
  std::remove(shard.c_str());
}

TEST(ResultsWriter, SummaryJsonHasOneObjectPerPointWithDesignNames) {
  const std::string json = summary_json({sample_point("a", 3, 0), sample_point("b", 3, 1)});
  EXPECT_NE(json.find("\"label\": \"a\""), std::string::npos);
  EXPECT_NE(json.find("\"point\": 1"), std::string::npos);
  for (const char* key : {"num_requests", "duration_s", "throughput_req_s", "throughput_tok_s",
                          "normalized_latency_s_per_tok", "ttft_p50_s", "ttft_p99_s", "tpot_p50_s",
                          "tpot_p99_s", "mean_batch_size", "kv_capacity_slots", "kv_token_states_frac",
                          "kv_reserved_frac", "kv_internal_frag_frac", "kv_external_frag_frac",
                          "kv_free_frac", "num_preemptions", "num_rejected", "wall_s"}) {
    EXPECT_NE(json.find(std::string("\"") + key + "\": "), std::string::npos) << key;
  }
  EXPECT_EQ(json.front(), '[');
}

TEST(ResultsWriter, SummaryJsonKeepsKeyOrderAndEveryDoubleBitForBit) {
  RunResult p = sample_point("a", 3, 0);
  p.summary.set("wall_s", 0.1 + 0.2);  // not short in decimal
  const auto doc = nlohmann::ordered_json::parse(summary_json({p}));
  ASSERT_EQ(doc.size(), 1u);
  std::vector<std::string> keys;
  for (const auto& [key, value] : doc[0].items()) keys.push_back(key);
  std::vector<std::string> expected{"point", "label"};
  for (const SummarySpec& s : summary_specs()) expected.push_back(s.name);
  expected.push_back("config");
  EXPECT_EQ(keys, expected);
  for (const auto& [name, value] : p.summary.values) {
    if (std::isnan(value)) continue;
    const double parsed = doc[0][name].get<double>();
    EXPECT_EQ(std::memcmp(&parsed, &value, sizeof value), 0) << name << " " << value;
  }
  EXPECT_EQ(doc[0]["config"]["memory.policy"], "paged");
}

TEST(ResultsWriter, SummaryJsonWritesNonFiniteAsNull) {
  RunResult p = sample_point("none finished", 3);
  for (RequestRecord& q : p.requests) q.outcome = RequestOutcome::kRejected;
  p.summary = summarize(p, 100, 0.1);
  ASSERT_TRUE(std::isnan(p.summary.get("ttft_p50_s")));
  p.summary.set("wall_s", std::numeric_limits<double>::infinity());
  const std::string json = summary_json({p});
  EXPECT_EQ(json.find("nan"), std::string::npos) << json;
  EXPECT_EQ(json.find("inf"), std::string::npos) << json;
  const auto doc = nlohmann::json::parse(json);
  EXPECT_TRUE(doc[0]["ttft_p50_s"].is_null()) << json;
  EXPECT_TRUE(doc[0]["normalized_latency_s_per_tok"].is_null()) << json;
  EXPECT_TRUE(doc[0]["wall_s"].is_null()) << json;
}

TEST(ResultsWriter, JsonTextIsOneLibrarysRoundTrippingJson) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> finite{0.1, 1.0 / 3, 5e-324, 1.7976931348623157e308, -2.5e-8};
  nlohmann::ordered_json value = {{"z", nan}, {"a", inf}, {"m", -inf}, {"finite", finite},
                                  {"text", "quote \" backslash \\ tab \t"}};
  const std::string text = json_text(value);
  EXPECT_EQ(text.back(), '\n');
  const auto doc = nlohmann::ordered_json::parse(text);
  EXPECT_EQ(doc.begin().key(), "z");  // insertion order, not sorted
  EXPECT_TRUE(doc["z"].is_null() && doc["a"].is_null() && doc["m"].is_null()) << text;
  for (size_t i = 0; i < finite.size(); ++i) {
    const double parsed = doc["finite"][i].get<double>();
    EXPECT_EQ(std::memcmp(&parsed, &finite[i], sizeof parsed), 0) << finite[i];
  }
  EXPECT_EQ(doc["text"], value["text"]);
}

TEST(ResultsWriter, SummaryTableHasARowPerPoint) {
  const std::string table = summary_table({sample_point("first", 3), sample_point("second", 3)});
  EXPECT_NE(table.find("first"), std::string::npos);
  EXPECT_NE(table.find("second"), std::string::npos);
  EXPECT_NE(table.find("kv tok%"), std::string::npos);
}

}  // namespace
}  // namespace kvlab
