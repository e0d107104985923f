#include "sim/profiled_cost_model.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "core/errors.h"
#include "sim/field_error.h"
#include "sim/profile_file.h"

namespace kvlab {
namespace {

constexpr const char* kProfileKey = "backend.profile";

// Where `x` falls among `points`: segment i (points[i], points[i + 1]) and the fraction t
// along it (t < 0 or > 1 off the grid: linear extrapolation from the end segment).
struct Segment {
  size_t i = 0;
  double t = 0;
  bool outside = false;
};

Segment locate(const std::vector<double>& points, double x) {
  Segment s;
  if (points.size() == 1) {
    s.outside = x != points[0];
    return s;
  }
  const size_t last = points.size() - 1;
  s.outside = x < points.front() || x > points.back();
  const auto it = std::upper_bound(points.begin(), points.end(), x);
  size_t hi = static_cast<size_t>(it - points.begin());
  hi = std::clamp<size_t>(hi, 1, last);
  s.i = hi - 1;
  s.t = (x - points[s.i]) / (points[hi] - points[s.i]);
  return s;
}

double lerp(double a, double b, double t) { return a + (b - a) * t; }

}  // namespace

ProfileInterpolator::ProfileInterpolator(const ProfileTable& table)
    : name_(table.name), v_(table.median_s) {
  check_invariant(!table.axes.empty() && table.axes.size() <= 2 && v_.size() == table.size(),
                  "ProfileInterpolator: table '" + table.name + "' is not a 1- or 2-axis grid");
  x_ = table.axes[0].points;
  if (table.axes.size() == 2) y_ = table.axes[1].points;
}

double ProfileInterpolator::at(double x, bool* outside) const {
  const Segment s = locate(x_, x);
  *outside = *outside || s.outside;
  if (x_.size() == 1) return v_[0];
  return std::max(0.0, lerp(v_[s.i], v_[s.i + 1], s.t));
}

double ProfileInterpolator::at(double x, double y, bool* outside) const {
  const Segment sx = locate(x_, x);
  const Segment sy = locate(y_, y);
  *outside = *outside || sx.outside || sy.outside;
  const size_t nx = x_.size() > 1 ? 1 : 0;
  const size_t ny = y_.size() > 1 ? 1 : 0;
  const size_t w = y_.size();
  auto v = [&](size_t i, size_t j) { return v_[i * w + j]; };
  const double lo = lerp(v(sx.i, sy.i), v(sx.i, sy.i + ny), ny ? sy.t : 0.0);
  const double hi = lerp(v(sx.i + nx, sy.i), v(sx.i + nx, sy.i + ny), ny ? sy.t : 0.0);
  return std::max(0.0, lerp(lo, hi, nx ? sx.t : 0.0));
}

namespace {

OperatorProfile read_configured_profile(const ExperimentConfig& config) {
  const std::string path = config.raw.get_string(kProfileKey);
  if (path.empty()) {
    fail_field(config.raw, kProfileKey,
               "backend.cost_model = profiled needs a profile file: write one with "
               "kvlab profile CONFIG.ini --out PROFILE.json and set backend.profile to it");
  }
  const std::string resolved = join_path(config.raw.base_dir(), path);
  try {
    return read_profile(resolved);
  } catch (const InputError& e) {
    fail_field(config.raw, kProfileKey, std::string("cannot use the profile: ") + e.what());
  }
}

}  // namespace

ProfiledCostModel::ProfiledCostModel(const ExperimentConfig& config)
    : ProfiledCostModel(config, read_configured_profile(config)) {}

ProfiledCostModel::ProfiledCostModel(const ExperimentConfig& config,
                                     const OperatorProfile& profile)
    : ProfiledCostModel(config, profile, profile_layout_of(config)) {}

ProfiledCostModel::ProfiledCostModel(const ExperimentConfig& config,
                                     const OperatorProfile& profile, const std::string& layout)
    : layers_(config.model.num_layers), layout_(layout) {
  check_profile_matches(profile, config, kProfileKey);
  if (config.tensor_parallel * config.pipeline_parallel != profile.devices) {
    fail_field(config.raw, kProfileKey,
               "the profile covers " + std::to_string(profile.devices) +
                   " device(s); the experiment runs on " +
                   std::to_string(config.tensor_parallel * config.pipeline_parallel) +
                   " (model.tensor_parallel x model.pipeline_parallel)");
  }
  auto table = [&](const std::string& name, size_t axes) {
    const ProfileTable* t = profile.find(name);
    if (t == nullptr || t->axes.size() != axes) {
      std::string layouts;
      for (const ProfileTable& other : profile.tables) {
        const std::string prefix = "decode_attention_";
        if (other.name.rfind(prefix, 0) == 0) {
          layouts += (layouts.empty() ? "" : ", ") + other.name.substr(prefix.size());
        }
      }
      fail_field(config.raw, kProfileKey,
                 "the profile has no " + std::to_string(axes) + "-axis table '" + name +
                     "' (its attention layouts: " + (layouts.empty() ? "none" : layouts) +
                     "; this experiment needs " + layout_ +
                     "): profile with the experiment's memory settings");
    }
    return ProfileInterpolator(*t);
  };
  linear_ = table("layer_linear", 1);
  elementwise_ = table("layer_elementwise", 1);
  embedding_ = table("embedding", 1);
  lm_head_ = table("lm_head", 1);
  sampling_ = table("sampling", 1);
  cache_write_ = table("cache_write", 1);
  decode_ = table("decode_attention_" + layout_, 2);
  prefill_ = table("prefill_attention_" + layout_, 2);
  kv_copy_ = table("kv_copy", 1);
  swap_copy_ = table("swap_copy", 1);
  const ProfileOverhead* overhead = profile.overhead_for(layout_);
  if (overhead == nullptr) {
    fail_field(config.raw, kProfileKey,
               "the profile has no overhead fitted for the " + layout_ +
                   " layout: profile with the experiment's memory settings");
  }
  overhead_ = *overhead;
}

ProfiledCostModel::~ProfiledCostModel() {
  const int64_t outside = out_of_range_steps_.load();
  if (outside > 0) {
    std::fprintf(stderr,
                 "warning: profiled cost model: %lld of %lld steps fell outside the profiled "
                 "grid and were extrapolated linearly\n",
                 static_cast<long long>(outside), static_cast<long long>(steps_.load()));
  }
}

void ProfiledCostModel::note_outside(const char* what, double value) const {
  out_of_range_steps_.fetch_add(1, std::memory_order_relaxed);
  if (!warned_.exchange(true)) {
    std::fprintf(stderr,
                 "warning: profiled cost model: a step's %s (%g) lies outside the profiled grid; "
                 "extrapolating linearly (counted; profile a wider grid to avoid it)\n",
                 what, value);
  }
}

ProfiledCostModel::OperatorTimes ProfiledCostModel::operator_times(const StepShape& step) const {
  OperatorTimes out;
  auto check = [&](bool off, const char* name, double v) {
    if (off && !out.outside) {
      out.outside = true;
      out.what = name;
      out.value = v;
    }
  };
  auto at = [&](OperatorClass c) -> double& { return out.seconds[static_cast<int>(c)]; };
  const auto tokens = static_cast<double>(step.num_tokens());
  const auto sampled = static_cast<double>(step.num_sampled());
  const auto layers = static_cast<double>(layers_);
  if (tokens > 0) {
    bool off = false;
    at(OperatorClass::kGemm) = layers * linear_.at(tokens, &off);
    at(OperatorClass::kElementwise) =
        layers * elementwise_.at(tokens, &off) + embedding_.at(tokens, &off);
    double prefill = cache_write_.at(tokens, &off);
    check(off, "token count", tokens);
    off = false;
    if (sampled > 0) {
      at(OperatorClass::kGemm) += lm_head_.at(sampled, &off);
      at(OperatorClass::kSampling) = sampling_.at(sampled, &off);
    }
    check(off, "sampled rows", sampled);
    off = false;
    for (const StepShape::PrefillChunk& c : step.prefills) {
      prefill += prefill_.at(static_cast<double>(c.num_tokens), static_cast<double>(c.start),
                             &off);
      check(off, "prefill chunk (tokens, start)", static_cast<double>(c.start + c.num_tokens));
    }
    at(OperatorClass::kPrefillAttention) = layers * prefill;
    if (!step.decode_context_lens.empty()) {
      double sum = 0;
      for (int64_t len : step.decode_context_lens) sum += static_cast<double>(len);
      const auto batch = static_cast<double>(step.decode_context_lens.size());
      at(OperatorClass::kDecodeAttention) = layers * decode_.at(batch, sum / batch, &off);
      check(off, "decode (batch, mean context)", batch);
    }
  }
  bool off = false;
  for (const auto* copies : {&step.swap_out, &step.swap_in}) {
    for (const KvCopy& c : *copies) {
      out.swap_s += swap_copy_.at(static_cast<double>(c.num_slots), &off);
    }
  }
  check(off, "swap size (slots)", 0);
  off = false;
  for (const KvCopy& c : step.device_copies) {
    at(OperatorClass::kCopy) += kv_copy_.at(static_cast<double>(c.num_slots), &off);
  }
  check(off, "copy size (slots)", 0);
  return out;
}

StepCost ProfiledCostModel::cost(const StepShape& step) const {
  steps_.fetch_add(1, std::memory_order_relaxed);
  const OperatorTimes t = operator_times(step);
  if (t.outside) note_outside(t.what, t.value);
  auto scaled = [&](OperatorClass c) {
    return t.seconds[static_cast<int>(c)] * overhead_.scale(c);
  };
  double overhead = 0;
  if (step.num_tokens() > 0) {
    const auto sequences =
        static_cast<double>(step.prefills.size() + step.decode_context_lens.size());
    overhead = overhead_.base_s + overhead_.per_sequence_s * sequences +
               overhead_.per_token_s * static_cast<double>(step.num_tokens());
  }
  StepCost out;
  out.outside_profile = t.outside;
  out.terms = {{"gemm", scaled(OperatorClass::kGemm)},
               {"elementwise", scaled(OperatorClass::kElementwise)},
               {"attention", scaled(OperatorClass::kPrefillAttention) +
                                 scaled(OperatorClass::kDecodeAttention)},
               {"sampling", scaled(OperatorClass::kSampling)},
               {"swap", t.swap_s * overhead_.scale(OperatorClass::kCopy)},
               {"copy", scaled(OperatorClass::kCopy)},
               {"overhead", overhead}};
  for (const CostTerm& term : out.terms) out.seconds += term.seconds;
  return out;
}

double ProfiledCostModel::copy_seconds(const std::vector<KvCopy>& device_copies) const {
  bool off = false;
  double copy = 0;
  for (const KvCopy& c : device_copies) copy += kv_copy_.at(static_cast<double>(c.num_slots), &off);
  return copy * overhead_.scale(OperatorClass::kCopy);
}

std::vector<KeySpec> profiled_keys() {
  return {string_key(kProfileKey, "",
                     "profiled: the profile file (kvlab profile) whose operator timings price "
                     "each step; relative to the config file")};
}

void register_profiled_cost_model(CostModelRegistry& registry) {
  registry.add({.name = "profiled",
                .factory = [](const ExperimentConfig& config) -> std::unique_ptr<CostModel> {
                  return std::make_unique<ProfiledCostModel>(config);
                },
                .description = "interpolates a profile of a real back end's operators "
                               "(backend.profile, written by kvlab profile)",
                .keys = profiled_keys()});
}

}  // namespace kvlab
