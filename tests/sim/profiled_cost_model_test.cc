// The profiled cost model (sim/profiled_cost_model.h) and its file (sim/profile_file.h): the
// JSON round trip and its validation, a profile of another model shape or KV dtype refused
// naming both, exact values on grid points and linear ones between, steps off the grid counted
// and extrapolated, a profile scaled by 2 pricing every step at twice the time, each operator
// class priced at its own scale (a profile with one scale read as that scale for every class),
// and the overhead fit (sim/profile_fit.h) recovering known per-class scales and glue.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "core/kv_dtype.h"
#include "sim/profile_file.h"
#include "sim/profile_fit.h"
#include "sim/profiled_cost_model.h"
#include "tests/sim/sim_test_config.h"

namespace kvlab {
namespace {

using testing::input_error;
using testing::sim_config;

// A table whose value at grid point x (or (x, y)) is a + b x (+ c y), in microseconds.
ProfileTable linear_table(const std::string& name, const std::string& axis,
                          std::vector<double> xs, double a, double b) {
  ProfileTable t{name, {{axis, xs}}, {}, {}, {}};
  for (double x : xs) {
    t.median_s.push_back((a + b * x) * 1e-6);
    t.p10_s.push_back(0.9 * t.median_s.back());
    t.p90_s.push_back(1.1 * t.median_s.back());
  }
  return t;
}

ProfileTable plane_table(const std::string& name, const std::string& ax, std::vector<double> xs,
                         const std::string& ay, std::vector<double> ys, double a, double b,
                         double c) {
  ProfileTable t{name, {{ax, xs}, {ay, ys}}, {}, {}, {}};
  for (double x : xs) {
    for (double y : ys) {
      t.median_s.push_back((a + b * x + c * y + 0.01 * x * y) * 1e-6);
      t.p10_s.push_back(t.median_s.back());
      t.p90_s.push_back(t.median_s.back());
    }
  }
  return t;
}

OperatorProfile tiny_profile(const ExperimentConfig& config) {
  OperatorProfile p;
  p.backend = "cpu";
  p.device = "test CPU";
  p.compute_dtype = "fp32";
  p.kv_dtype = kv_dtype_name(config.model.kv_dtype);
  p.model = profile_shape_of(config.model);
  p.repeats = 5;
  p.date = "2026-12-05T00:00:00Z";
  p.commit = "abc";
  p.command = "kvlab profile test.ini";
  const std::vector<double> tokens = {1, 2, 4, 8, 16, 32, 64};
  p.tables = {linear_table("layer_linear", "tokens", tokens, 5, 2),
              linear_table("layer_elementwise", "tokens", tokens, 1, 0.5),
              linear_table("embedding", "tokens", tokens, 0.1, 0.01),
              linear_table("cache_write", "tokens", tokens, 0.2, 0.05),
              linear_table("lm_head", "rows", {1, 2, 4, 8}, 2, 1),
              linear_table("sampling", "rows", {1, 2, 4, 8}, 0.1, 0.2),
              plane_table("decode_attention_paged16", "batch", {1, 2, 4, 8}, "context",
                          {16, 32, 64, 128}, 1, 2, 0.1),
              plane_table("prefill_attention_paged16", "chunk", {2, 8, 32}, "start", {0, 32, 64},
                          3, 0.5, 0.2),
              linear_table("kv_copy", "slots", {1, 16, 256}, 0.5, 0.01),
              linear_table("swap_copy", "slots", {1, 16, 256}, 0.7, 0.02)};
  p.overheads = {{.layout = "paged16", .base_s = 3e-6, .per_sequence_s = 1e-6,
                  .per_token_s = 0.1e-6}};
  return p;
}

ExperimentConfig tiny_config() { return sim_config("tiny-llama", "a10g"); }

TEST(ProfileFile, RoundTripKeepsEveryField) {
  const ExperimentConfig config = tiny_config();
  const OperatorProfile p = tiny_profile(config);
  const OperatorProfile q = profile_from_json(profile_to_json(p), "mem");
  EXPECT_EQ(q.backend, p.backend);
  EXPECT_EQ(q.device, p.device);
  EXPECT_EQ(q.kv_dtype, p.kv_dtype);
  EXPECT_EQ(q.model, p.model);
  EXPECT_EQ(q.date, p.date);
  EXPECT_EQ(q.commit, p.commit);
  EXPECT_EQ(q.command, p.command);
  ASSERT_EQ(q.overheads.size(), 1u);
  EXPECT_EQ(q.overheads[0].layout, "paged16");
  EXPECT_EQ(q.overheads[0].base_s, p.overheads[0].base_s);
  for (int c = 0; c < kNumOperatorClasses; ++c) EXPECT_EQ(q.overheads[0].operator_scale[c], 1.0);
  ASSERT_EQ(q.tables.size(), p.tables.size());
  for (size_t i = 0; i < p.tables.size(); ++i) {
    EXPECT_EQ(q.tables[i].name, p.tables[i].name);
    EXPECT_EQ(q.tables[i].median_s, p.tables[i].median_s);
    EXPECT_EQ(q.tables[i].p90_s, p.tables[i].p90_s);
    ASSERT_EQ(q.tables[i].axes.size(), p.tables[i].axes.size());
    EXPECT_EQ(q.tables[i].axes[0].points, p.tables[i].axes[0].points);
  }
  // Self-describing: the JSON names what it is and where it came from.
  const std::string text = profile_to_json(p);
  for (const char* key : {"\"format\": \"kvlab-profile\"", "\"device\"", "\"backend\"",
                          "\"kv_dtype\"", "\"model\"", "\"date\"", "\"commit\"", "\"tables\""}) {
    EXPECT_NE(text.find(key), std::string::npos) << key;
  }
}

TEST(ProfileFile, MalformedProfilesNameTheField) {
  const ExperimentConfig config = tiny_config();
  OperatorProfile p = tiny_profile(config);
  p.tables[0].median_s.pop_back();
  std::string e = input_error([&] { profile_from_json(profile_to_json(p), "bad.json"); });
  EXPECT_NE(e.find("bad.json"), std::string::npos) << e;
  EXPECT_NE(e.find("tables[0].median_s"), std::string::npos) << e;
  e = input_error([&] { profile_from_json("{\"format\": \"other\"}", "x.json"); });
  EXPECT_NE(e.find("not a kvlab profile"), std::string::npos) << e;
  e = input_error([&] { profile_from_json("{", "x.json"); });
  EXPECT_NE(e.find("not JSON"), std::string::npos) << e;
  p = tiny_profile(config);
  p.tables[1].axes[0].points = {1, 4, 2, 8, 16, 32, 64};
  e = input_error([&] { profile_from_json(profile_to_json(p), "x.json"); });
  EXPECT_NE(e.find("strictly increasing"), std::string::npos) << e;
}

TEST(ProfiledCostModel, RefusesAnotherModelShapeOrKvDtypeNamingBoth) {
  const OperatorProfile p = tiny_profile(tiny_config());
  const ExperimentConfig other = sim_config("llama-2-7b", "a100-40gb");
  std::string e = input_error([&] { ProfiledCostModel model(other, p); });
  EXPECT_NE(e.find("backend.profile"), std::string::npos) << e;
  EXPECT_NE(e.find("tiny-llama"), std::string::npos) << e;
  EXPECT_NE(e.find("llama-2-7b"), std::string::npos) << e;
  ExperimentConfig fp8 = tiny_config();
  fp8.model.kv_dtype = KvDtype::kFp8E4m3;
  e = input_error([&] { ProfiledCostModel model(fp8, p); });
  EXPECT_NE(e.find("auto"), std::string::npos) << e;
  EXPECT_NE(e.find("fp8_e4m3"), std::string::npos) << e;
  // A layout the profile lacks is named too.
  ExperimentConfig bs32 = tiny_config();
  bs32.memory.settings.set("memory.block_size", "32");
  e = input_error([&] { ProfiledCostModel model(bs32, p); });
  EXPECT_NE(e.find("decode_attention_paged32"), std::string::npos) << e;
  EXPECT_NE(e.find("paged16"), std::string::npos) << e;
}

StepShape decodes(int64_t batch, int64_t context) {
  StepShape s;
  s.decode_context_lens.assign(static_cast<size_t>(batch), context);
  return s;
}

TEST(ProfiledCostModel, GridPointsAreExactAndBetweenThemLinear) {
  const ExperimentConfig config = tiny_config();
  const OperatorProfile p = tiny_profile(config);
  const ProfiledCostModel model(config, p);
  const double layers = config.model.num_layers;
  // 4 decodes at context 32: every table on a grid point.
  const StepCost c = model.cost(decodes(4, 32));
  const double t = 4;
  EXPECT_DOUBLE_EQ(c.term("gemm"), (layers * (5 + 2 * t) + (2 + 1 * t)) * 1e-6);
  EXPECT_DOUBLE_EQ(c.term("elementwise"), (layers * (1 + 0.5 * t) + (0.1 + 0.01 * t)) * 1e-6);
  EXPECT_DOUBLE_EQ(c.term("attention"),
                   layers * ((0.2 + 0.05 * t) + (1 + 2 * 4 + 0.1 * 32 + 0.01 * 4 * 32)) * 1e-6);
  EXPECT_DOUBLE_EQ(c.term("sampling"), (0.1 + 0.2 * t) * 1e-6);
  EXPECT_DOUBLE_EQ(c.term("overhead"), (3 + 1 * 4 + 0.1 * 4) * 1e-6);
  double sum = 0;
  for (const CostTerm& term : c.terms) sum += term.seconds;
  EXPECT_DOUBLE_EQ(c.seconds, sum);
  EXPECT_EQ(model.out_of_range_steps(), 0);
  // 3 tokens lies between 2 and 4: the linear tables are exact there too.
  const StepCost c3 = model.cost(decodes(3, 32));
  EXPECT_NEAR(c3.term("sampling"), (0.1 + 0.2 * 3) * 1e-6, 1e-15);
  // Bilinear between grid points: the mean of the corners at the centre of a cell.
  const ProfileInterpolator decode(*p.find("decode_attention_paged16"));
  bool outside = false;
  const double mid = decode.at(3, 48, &outside);
  bool ignored = false;
  const double corners = (decode.at(2, 32, &ignored) + decode.at(2, 64, &ignored) +
                          decode.at(4, 32, &ignored) + decode.at(4, 64, &ignored)) / 4;
  EXPECT_NEAR(mid, corners, 1e-15);
  EXPECT_FALSE(outside);
  // Prefill chunks and copies: one chunk of 8 after 32, a swap of 16 slots, a copy of 1.
  StepShape mixed;
  mixed.prefills.push_back({32, 8, true});
  mixed.swap_out.push_back({.src_slot = 0, .dst_slot = 0, .num_slots = 16});
  mixed.device_copies.push_back({.src_slot = 0, .dst_slot = 5, .num_slots = 1});
  const StepCost m = model.cost(mixed);
  EXPECT_DOUBLE_EQ(m.term("swap"), (0.7 + 0.02 * 16) * 1e-6);
  EXPECT_DOUBLE_EQ(m.term("copy"), (0.5 + 0.01 * 1) * 1e-6);
  EXPECT_DOUBLE_EQ(m.term("attention"),
                   layers * ((0.2 + 0.05 * 8) + (3 + 0.5 * 8 + 0.2 * 32 + 0.01 * 8 * 32)) * 1e-6);
  EXPECT_DOUBLE_EQ(model.copy_seconds(mixed.device_copies), m.term("copy"));
  // A step with no tokens (swaps only) pays no overhead.
  StepShape swaps_only;
  swaps_only.swap_in.push_back({.src_slot = 0, .dst_slot = 0, .num_slots = 1});
  EXPECT_EQ(model.cost(swaps_only).term("overhead"), 0.0);
}

TEST(ProfiledCostModel, StepsOffTheGridAreCountedAndExtrapolatedLinearly) {
  const ExperimentConfig config = tiny_config();
  const ProfiledCostModel model(config, tiny_profile(config));
  model.cost(decodes(4, 32));
  EXPECT_EQ(model.out_of_range_steps(), 0);
  // 16 decodes: above the batch grid (8) and the rows grid (8); 128 tokens of prefill: above
  // the tokens grid (64).
  const StepCost c = model.cost(decodes(16, 32));
  EXPECT_TRUE(c.outside_profile);
  EXPECT_FALSE(model.cost(decodes(8, 128)).outside_profile);  // the grid's corner
  EXPECT_EQ(model.out_of_range_steps(), 1);
  EXPECT_EQ(model.steps(), 3);
  EXPECT_NEAR(c.term("sampling"), (0.1 + 0.2 * 16) * 1e-6, 1e-15);  // the line continued
  StepShape big;
  big.prefills.push_back({0, 128, true});
  const StepCost b = model.cost(big);
  EXPECT_EQ(model.out_of_range_steps(), 2);
  EXPECT_NEAR(b.term("gemm"),
              (config.model.num_layers * (5 + 2 * 128.0) + (2 + 1)) * 1e-6, 1e-12);
}

TEST(ProfiledCostModel, AProfileScaledByTwoPricesEveryStepAtTwice) {
  const ExperimentConfig config = tiny_config();
  const OperatorProfile p = tiny_profile(config);
  const ProfiledCostModel base(config, p);
  const ProfiledCostModel twice(config, scaled_profile(p, 2.0));
  StepShape mixed = decodes(5, 40);
  mixed.prefills.push_back({0, 20, true});
  mixed.swap_in.push_back({.src_slot = 0, .dst_slot = 0, .num_slots = 30});
  for (const StepShape& s : {decodes(1, 16), decodes(8, 100), mixed}) {
    EXPECT_NEAR(twice.cost(s).seconds, 2 * base.cost(s).seconds, 1e-15);
  }
}

TEST(ProfiledCostModel, EachOperatorClassHasItsScaleAndTheGlueNone) {
  const ExperimentConfig config = tiny_config();
  OperatorProfile p = tiny_profile(config);
  const ProfiledCostModel base(config, p);
  ProfileOverhead& o = p.overheads[0];
  for (int c = 0; c < kNumOperatorClasses; ++c) o.operator_scale[c] = 0.5 + 0.1 * c;
  const ProfiledCostModel scaled(config, p);
  StepShape s = decodes(4, 32);
  s.prefills.push_back({0, 8, true});
  s.swap_out.push_back({.src_slot = 0, .dst_slot = 0, .num_slots = 16});
  s.device_copies.push_back({.src_slot = 0, .dst_slot = 5, .num_slots = 1});
  const StepCost a = base.cost(s);
  const StepCost b = scaled.cost(s);
  EXPECT_DOUBLE_EQ(b.term("gemm"), o.scale(OperatorClass::kGemm) * a.term("gemm"));
  EXPECT_DOUBLE_EQ(b.term("elementwise"),
                   o.scale(OperatorClass::kElementwise) * a.term("elementwise"));
  EXPECT_DOUBLE_EQ(b.term("sampling"), o.scale(OperatorClass::kSampling) * a.term("sampling"));
  EXPECT_DOUBLE_EQ(b.term("swap"), o.scale(OperatorClass::kCopy) * a.term("swap"));
  EXPECT_DOUBLE_EQ(b.term("copy"), o.scale(OperatorClass::kCopy) * a.term("copy"));
  // Attention: the prefill chunk and the cache writes at prefill's scale, decodes at decode's.
  const ProfiledCostModel::OperatorTimes t = base.operator_times(s);
  const double prefill = t.seconds[static_cast<int>(OperatorClass::kPrefillAttention)];
  const double decode = t.seconds[static_cast<int>(OperatorClass::kDecodeAttention)];
  EXPECT_GT(prefill, 0);
  EXPECT_GT(decode, 0);
  EXPECT_DOUBLE_EQ(a.term("attention"), prefill + decode);
  EXPECT_DOUBLE_EQ(b.term("attention"), o.scale(OperatorClass::kPrefillAttention) * prefill +
                                            o.scale(OperatorClass::kDecodeAttention) * decode);
  EXPECT_DOUBLE_EQ(b.term("overhead"), a.term("overhead"));
  // A profile without an overhead for the experiment's layout is refused, naming it.
  p.overheads[0].layout = "contiguous";
  const std::string e = input_error([&] { ProfiledCostModel model(config, p); });
  EXPECT_NE(e.find("paged16"), std::string::npos) << e;
}

TEST(ProfileFile, ScalesAndMeasuredStepsRoundTripAndOneOldScaleMeansEveryClass) {
  const ExperimentConfig config = tiny_config();
  OperatorProfile p = tiny_profile(config);
  for (int c = 0; c < kNumOperatorClasses; ++c) p.overheads[0].operator_scale[c] = 0.7 + 0.05 * c;
  p.fit_steps = {{.prefills = {{3, 5, true}}, .decode_context_lens = {7, 9},
                  .layout = "paged16", .seconds = 2.5e-4}};
  const OperatorProfile q = profile_from_json(profile_to_json(p), "mem");
  for (int c = 0; c < kNumOperatorClasses; ++c) {
    EXPECT_EQ(q.overheads[0].operator_scale[c], p.overheads[0].operator_scale[c]) << c;
  }
  ASSERT_EQ(q.fit_steps.size(), 1u);
  EXPECT_EQ(q.fit_steps[0].layout, "paged16");
  EXPECT_EQ(q.fit_steps[0].seconds, 2.5e-4);
  EXPECT_EQ(q.fit_steps[0].decode_context_lens, (std::vector<int64_t>{7, 9}));
  ASSERT_EQ(q.fit_steps[0].prefills.size(), 1u);
  EXPECT_EQ(q.fit_steps[0].prefills[0].start, 3);
  EXPECT_EQ(q.fit_steps[0].prefills[0].num_tokens, 5);
  EXPECT_TRUE(q.fit_steps[0].prefills[0].samples);
  // A file written before per-class scales: one operator_scale, no measured steps.
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(profile_to_json(p));
  j["overheads"][0].erase("operator_scales");
  j["overheads"][0]["operator_scale"] = 0.889;
  j.erase("measured_steps");
  const OperatorProfile old = profile_from_json(j.dump(), "old.json");
  for (double f : old.overheads[0].operator_scale) EXPECT_EQ(f, 0.889);
  EXPECT_TRUE(old.fit_steps.empty());
  OperatorProfile refit = old;
  EXPECT_NE(input_error([&] { fit_profile_overhead(config, &refit); }).find("measured"),
            std::string::npos);
  // Both forms at once, an unknown class, a scale <= 0: refused, naming the field.
  j["overheads"][0]["operator_scales"] = {{"gemm", 1.0}};
  std::string e = input_error([&] { profile_from_json(j.dump(), "x.json"); });
  EXPECT_NE(e.find("not both"), std::string::npos) << e;
  j = nlohmann::ordered_json::parse(profile_to_json(p));
  j["overheads"][0]["operator_scales"]["matmul"] = 1.0;
  e = input_error([&] { profile_from_json(j.dump(), "x.json"); });
  EXPECT_NE(e.find("operator_scales.matmul"), std::string::npos) << e;
  j = nlohmann::ordered_json::parse(profile_to_json(p));
  j["overheads"][0]["operator_scales"]["sampling"] = 0.0;
  e = input_error([&] { profile_from_json(j.dump(), "x.json"); });
  EXPECT_NE(e.find("operator_scales.sampling"), std::string::npos) << e;
  j = nlohmann::ordered_json::parse(profile_to_json(p));
  j["measured_steps"][0]["prefills"][0] = {3, 0, true};
  e = input_error([&] { profile_from_json(j.dump(), "x.json"); });
  EXPECT_NE(e.find("measured_steps[0].prefills"), std::string::npos) << e;
}

// tiny_profile with each table bent off its line differently (its tables are affine in tokens
// and rows, as the glue is: the classes' columns would be collinear and no scale identifiable).
OperatorProfile bent_profile(const ExperimentConfig& config) {
  OperatorProfile p = tiny_profile(config);
  for (size_t t = 0; t < p.tables.size(); ++t) {
    for (size_t i = 0; i < p.tables[t].median_s.size(); ++i) {
      p.tables[t].median_s[i] *= 1 + 0.3 * std::sin(1.7 * static_cast<double>(i) +
                                                    static_cast<double>(t));
    }
  }
  return p;
}

TEST(ProfileFit, RecoversKnownPerClassScalesAndGlueFromSyntheticSteps) {
  const ExperimentConfig config = tiny_config();
  OperatorProfile truth = bent_profile(config);
  ProfileOverhead& o = truth.overheads[0];
  // gemm, elementwise, prefill and decode attention, sampling: the fit gives GEMMs,
  // element-wise operators and sampling one scale (sim/profile_fit.h), attention two more.
  const double scales[kNumFittedOperatorClasses] = {0.8, 0.8, 1.3, 0.6, 0.8};
  for (int c = 0; c < kNumFittedOperatorClasses; ++c) o.operator_scale[c] = scales[c];
  o.base_s = 4e-6;
  o.per_sequence_s = 2e-6;
  o.per_token_s = 0.3e-6;
  // Steps like the profiler's: decode-only, prefill-only and mixed, within the grid, each
  // measured as the true model prices it.
  const ProfiledCostModel model(config, truth);
  std::mt19937_64 rng(7);
  auto draw = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  OperatorProfile p = bent_profile(config);
  for (int k = 0; k < 60; ++k) {
    MeasuredStep m{.layout = "paged16"};
    if (k % 3 != 1) {
      for (int64_t i = draw(1, 6); i > 0; --i) m.decode_context_lens.push_back(draw(16, 128));
    }
    if (k % 3 != 0) {
      for (int64_t i = draw(1, 2); i > 0; --i) {
        m.prefills.push_back({draw(0, 1) * 32, draw(2, 24), true});
      }
    }
    StepShape s;
    for (const MeasuredStep::Chunk& c : m.prefills) {
      s.prefills.push_back({c.start, c.num_tokens, c.samples});
    }
    s.decode_context_lens = m.decode_context_lens;
    m.seconds = model.cost(s).seconds;
    p.fit_steps.push_back(m);
  }
  fit_profile_overhead(config, &p);
  ASSERT_EQ(p.overheads.size(), 1u);
  const ProfileOverhead& f = p.overheads[0];
  EXPECT_EQ(f.layout, "paged16");
  EXPECT_EQ(f.fit_steps, 60);
  for (int c = 0; c < kNumFittedOperatorClasses; ++c) {
    EXPECT_NEAR(f.operator_scale[c], scales[c], 1e-6 * scales[c])
        << operator_class_name(static_cast<OperatorClass>(c));
  }
  EXPECT_EQ(f.scale(OperatorClass::kCopy), 1.0);  // the steps move no KV: not fitted
  EXPECT_NEAR(f.base_s, o.base_s, 1e-6 * o.base_s);
  EXPECT_NEAR(f.per_sequence_s, o.per_sequence_s, 1e-6 * o.per_sequence_s);
  EXPECT_NEAR(f.per_token_s, o.per_token_s, 1e-6 * o.per_token_s);
  EXPECT_LT(f.fit_median_rel_error, 1e-9);
}

}  // namespace
}  // namespace kvlab
