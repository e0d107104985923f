// Streamed results (output.stream): a run that gives its rows to the results file as it goes
// holds none of them, and its rows, summary and file are those of the in-memory run.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/experiment_runner.h"
#include "app/results_writer.h"
#include "core/config.h"
#include "tests/e2e/e2e_util.h"

namespace kvlab {
namespace {

using e2e::run_command;
using e2e::temp_path;

// A PointStream that keeps what it is given, for comparison.
class Collect final : public PointStream {
 public:
  void on_step(const StepRecord& step, const std::vector<std::string>& terms) override {
    steps.push_back(step);
    term_names = terms;
  }
  void on_request(RequestRecord&& r) override { requests.push_back(std::move(r)); }
  void finish(const RunResult& point) override {
    ++finished;
    result_terms = point.term_names;
  }
  std::vector<RequestRecord> requests;
  std::vector<StepRecord> steps;
  std::vector<std::string> term_names, result_terms;
  int finished = 0;
};

// Runs `config` in memory and streamed; the streamed points' collectors by point.
struct Both {
  std::vector<RunResult> memory, streamed;
  std::map<size_t, Collect*> rows;
  std::vector<std::unique_ptr<Collect>> owned;
};

Both run_both(const Config& config) {
  Both b;
  RunOptions options;
  options.jobs = 2;
  b.memory = run_experiment(config, options);
  Config streamed = config;
  streamed.set("output.stream", "true");
  std::mutex m;
  // The runner destroys each stream when its point ends: keep copies through a wrapper.
  options.stream = [&](const PreparedPoint& p) -> std::unique_ptr<PointStream> {
    struct Keep final : PointStream {
      explicit Keep(Collect* c) : c_(c) {}
      void on_step(const StepRecord& s, const std::vector<std::string>& t) override { c_->on_step(s, t); }
      void on_request(RequestRecord&& r) override { c_->on_request(std::move(r)); }
      void finish(const RunResult& p) override { c_->finish(p); }
      Collect* c_;
    };
    std::lock_guard<std::mutex> lock(m);
    b.owned.push_back(std::make_unique<Collect>());
    b.rows[p.point.index] = b.owned.back().get();
    return std::make_unique<Keep>(b.owned.back().get());
  };
  b.streamed = run_experiment(streamed, options);
  return b;
}

void expect_same_request(const RequestRecord& a, const RequestRecord& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.trace_line, b.trace_line);
  EXPECT_EQ(a.arrival_s, b.arrival_s) << a.id;
  EXPECT_EQ(a.first_scheduled_s, b.first_scheduled_s) << a.id;
  EXPECT_EQ(a.first_token_s, b.first_token_s) << a.id;
  EXPECT_EQ(a.finish_s, b.finish_s) << a.id;
  EXPECT_EQ(a.generated_tokens, b.generated_tokens) << a.id;
  EXPECT_EQ(a.num_preemptions, b.num_preemptions) << a.id;
  EXPECT_EQ(a.num_swaps, b.num_swaps) << a.id;
  EXPECT_EQ(a.outcome, b.outcome) << a.id;
  EXPECT_EQ(a.reject_reason, b.reject_reason) << a.id;
  EXPECT_EQ(a.cached_prompt_tokens, b.cached_prompt_tokens) << a.id;
  EXPECT_EQ(a.cached_tokens, b.cached_tokens) << a.id;
  EXPECT_EQ(a.itl_s, b.itl_s) << a.id;
  EXPECT_EQ(a.token_ids, b.token_ids) << a.id;
}

void expect_same_step(const StepRecord& a, const StepRecord& b, size_t terms) {
  EXPECT_EQ(a.time_s, b.time_s);
  EXPECT_EQ(a.duration_s, b.duration_s);
  EXPECT_EQ(a.batch_size, b.batch_size);
  EXPECT_EQ(a.prefill_tokens, b.prefill_tokens);
  EXPECT_EQ(a.decode_tokens, b.decode_tokens);
  EXPECT_EQ(a.memory.token_states, b.memory.token_states);
  EXPECT_EQ(a.memory.free, b.memory.free);
  for (size_t t = 0; t < terms; ++t) {
    EXPECT_EQ(t < a.terms.size() ? a.terms[t] : 0.0, t < b.terms.size() ? b.terms[t] : 0.0);
  }
}

// Every summary value but how long the run took on this machine.
void expect_same_summary(const RunResult& a, const RunResult& b) {
  ASSERT_EQ(a.summary.values.size(), b.summary.values.size());
  for (size_t k = 0; k < a.summary.values.size(); ++k) {
    const auto& [name, value] = a.summary.values[k];
    EXPECT_EQ(name, b.summary.values[k].first);
    if (name == "wall_s") continue;
    const double other = b.summary.values[k].second;
    if (std::isnan(value)) {
      EXPECT_TRUE(std::isnan(other)) << name;
    } else {
      EXPECT_EQ(value, other) << name << " of " << a.label;
    }
  }
}

void expect_same_runs(const Both& b) {
  ASSERT_FALSE(b.memory.empty());
  ASSERT_EQ(b.memory.size(), b.streamed.size());
  for (size_t i = 0; i < b.memory.size(); ++i) {
    const RunResult& m = b.memory[i];
    const RunResult& s = b.streamed[i];
    SCOPED_TRACE(m.label);
    EXPECT_FALSE(m.streamed);
    EXPECT_TRUE(s.streamed);
    EXPECT_TRUE(s.requests.empty());
    EXPECT_TRUE(s.steps.empty());
    const Collect& rows = *b.rows.at(s.point_index);
    EXPECT_EQ(rows.finished, 1);
    ASSERT_EQ(rows.requests.size(), m.requests.size());
    EXPECT_GT(rows.requests.size(), 0u);
    EXPECT_EQ(s.streamed_requests, static_cast<int64_t>(m.requests.size()));
    for (size_t k = 0; k < m.requests.size(); ++k) expect_same_request(m.requests[k], rows.requests[k]);
    ASSERT_EQ(rows.steps.size(), m.steps.size());
    EXPECT_EQ(rows.result_terms, m.term_names);
    for (size_t k = 0; k < m.steps.size(); ++k) {
      expect_same_step(m.steps[k], rows.steps[k], m.term_names.size());
    }
    expect_same_summary(m, s);
    EXPECT_EQ(m.output_digest, s.output_digest);
    EXPECT_EQ(m.has_token_ids, s.has_token_ids);
    EXPECT_EQ(m.prefix_bound.hit_tokens, s.prefix_bound.hit_tokens);
    ASSERT_EQ(s.replicas.size(), 1u);
    EXPECT_EQ(s.replicas[0].requests, m.replicas[0].requests);
  }
}

Config azure(const std::string& more) {
  return Config::parse("[workload]\ntrace = " + e2e::source_path("traces/data/azure_conv_sample.csv") +
                           "\nnum_requests = 300\nmax_total_len = 4096\n"
                           "[model]\nname = llama-2-7b\n[hardware]\nname = a100-40gb\n" + more,
                       "stream.ini");
}

// Under every memory paradigm, both preemption modes and memory tight enough to preempt.
TEST(StreamedRuns, SameRowsAndSummaryAsInMemory) {
  const Both b = run_both(azure(
      "[memory]\ncapacity_slots = 6000\n[sweep]\n"
      "memory.policy = paged, contiguous, virtual\nscheduler.preemption = recompute, swap\n"));
  expect_same_runs(b);
  int64_t preempted = 0;
  for (const RunResult& r : b.memory) preempted += static_cast<int64_t>(r.summary.get("num_preemptions"));
  EXPECT_GT(preempted, 0);  // the comparison covers preemption
}

// Prefix caching (its bound read from a second pass over the workload), parallel samples, a
// step table not kept, and requests that can never run.
TEST(StreamedRuns, SameUnderPrefixCachingSamplesUnrecordedStepsAndRejections) {
  expect_same_runs(run_both(Config::parse(
      "[workload]\nprompt_len = 600\noutput_len = 40\nnum_requests = 200\narrival = poisson\n"
      "rate = 20\nshared_prefix_len = 512\nshared_prefix_groups = 3\n"
      "[model]\nname = llama-2-7b\n[hardware]\nname = a100-40gb\n"
      "[memory]\nprefix_caching = true\n", "prefix.ini")));
  expect_same_runs(run_both(azure("[workload]\nn = 2\n[output]\nrecord_steps = false\n")));
  const Both rejecting = run_both(azure("[model]\nmax_seq_len = 1024\n"));
  expect_same_runs(rejecting);
  EXPECT_GT(rejecting.streamed[0].streamed_rejections.size(), 0u);
  EXPECT_EQ(static_cast<double>(rejecting.streamed[0].streamed_rejections.size()),
            rejecting.memory[0].summary.get("num_rejected"));
}

// A real back end: the same generated tokens, hence the same digest.
TEST(StreamedRuns, CpuBackEndGivesTheSameTokens) {
  Config config = Config::load(e2e::source_path("experiments/cpu_tiny.ini"));
  config.set("workload.num_requests", "10");
  const Both b = run_both(config);
  ASSERT_EQ(b.memory.size(), b.streamed.size());
  for (size_t i = 0; i < b.memory.size(); ++i) {
    EXPECT_TRUE(b.memory[i].has_token_ids);
    EXPECT_EQ(b.memory[i].output_digest, b.streamed[i].output_digest);
    const Collect& rows = *b.rows.at(b.streamed[i].point_index);
    ASSERT_EQ(rows.requests.size(), b.memory[i].requests.size());
    for (size_t k = 0; k < rows.requests.size(); ++k) {
      EXPECT_EQ(rows.requests[k].token_ids, b.memory[i].requests[k].token_ids);
    }
  }
}

// --- the files -------------------------------------------------------------------------

// Every dataset under `group` (recursively): its path and its bytes as read in its own type
// (variable-length strings as their text).
herr_t collect_dataset(hid_t root, const char* name, const H5O_info_t* info, void* out) {
  if (info->type != H5O_TYPE_DATASET) return 0;
  auto& sets = *static_cast<std::map<std::string, std::string>*>(out);
  const hid_t d = H5Dopen2(root, name, H5P_DEFAULT);
  const hid_t type = H5Dget_type(d);
  const hid_t space = H5Dget_space(d);
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  std::string bytes = std::to_string(H5Tget_class(type)) + ":" + std::to_string(n) + ":";
  if (H5Tis_variable_str(type) > 0) {
    std::vector<char*> text(static_cast<size_t>(n));
    if (n > 0) H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, text.data());
    for (char* t : text) bytes += std::string(t ? t : "") + '|';
    if (n > 0) H5Dvlen_reclaim(type, space, H5P_DEFAULT, text.data());
  } else {
    const hid_t native = H5Tget_native_type(type, H5T_DIR_ASCEND);
    std::string raw(static_cast<size_t>(n) * H5Tget_size(native), '\0');
    if (n > 0) H5Dread(d, native, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data());
    bytes += raw;
    H5Tclose(native);
  }
  sets[name] = bytes;
  H5Sclose(space);
  H5Tclose(type);
  H5Dclose(d);
  return 0;
}

std::map<std::string, std::string> datasets(const std::string& file) {
  std::map<std::string, std::string> out;
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  EXPECT_GE(f, 0) << file;
  if (f < 0) return out;
  H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_INC, collect_dataset, &out, H5O_INFO_BASIC);
  H5Fclose(f);
  return out;
}

// The summary JSON without what may differ: how long each point took, and the key itself.
nlohmann::json summaries(const std::string& path) {
  nlohmann::json j = nlohmann::json::parse(std::ifstream(path));
  for (auto& point : j) {
    point.erase("wall_s");
    point["config"].erase("output.stream");
  }
  return j;
}

TEST(StreamedRuns, FileHoldsWhatTheInMemoryRunsFileHolds) {
  const std::string ini = e2e::source_path("experiments/quickstart.ini");
  const std::string a = temp_path("stream_a.h5"), b = temp_path("stream_b.h5");
  const std::string kvlab = e2e::kvlab_binary() + " run " + ini + " -q -j 2 --set workload.num_requests=300";
  ASSERT_EQ(run_command(kvlab + " --out " + a + " --summary-json " + a + ".json").exit_code, 0);
  const auto streamed = run_command(kvlab + " --set output.stream=true --out " + b +
                                    " --summary-json " + b + ".json");
  ASSERT_EQ(streamed.exit_code, 0) << streamed.output;
  const auto want = datasets(a);
  const auto got = datasets(b);
  EXPECT_GT(want.size(), 40u);
  ASSERT_EQ(want.size(), got.size());
  for (const auto& [name, bytes] : want) {
    ASSERT_TRUE(got.count(name)) << name;
    EXPECT_TRUE(got.at(name) == bytes) << name << " differs";
  }
  EXPECT_EQ(summaries(a + ".json"), summaries(b + ".json"));
}

TEST(StreamedRuns, RefusesWhatItCannotStream) {
  const std::string ini = e2e::source_path("experiments/quickstart.ini");
  const std::string out = temp_path("stream_refused.h5");
  const auto cluster = run_command(e2e::kvlab_binary() + " run " + ini + " -q --out " + out +
                                   " --set output.stream=true --set cluster.replicas=2");
  EXPECT_EQ(cluster.exit_code, 1);
  EXPECT_NE(cluster.output.find("output.stream"), std::string::npos) << cluster.output;
  EXPECT_NE(cluster.output.find("2 replicas"), std::string::npos) << cluster.output;
  EXPECT_FALSE(e2e::file_exists(out));
  const std::string chats = temp_path("stream_chats.json");
  e2e::write_file(chats,
                  R"([{"id": "a", "conversations": [{"from": "human", "value": "hi there"},
                      {"from": "gpt", "value": "hello"}, {"from": "human", "value": "and?"},
                      {"from": "gpt", "value": "more"}]}])");
  const auto turns = run_command(e2e::kvlab_binary() + " run " + ini + " -q --out " + out +
                                 " --set output.stream=true --set workload.multi_turn=true"
                                 " --set workload.arrival=poisson --set workload.trace=" + chats);
  EXPECT_EQ(turns.exit_code, 1);
  EXPECT_NE(turns.output.find("output.stream"), std::string::npos) << turns.output;
  EXPECT_FALSE(e2e::file_exists(out));
}

}  // namespace
}  // namespace kvlab
