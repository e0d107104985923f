#include "sim/profile_file.h"

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/errors.h"
#include "core/kv_dtype.h"
#include "sim/field_error.h"

namespace kvlab {
namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kFormat = "kvlab-profile";

Json shape_json(const ProfileModelShape& m) {
  return {{"name", m.name},
          {"family", m.family},
          {"num_layers", m.num_layers},
          {"hidden_size", m.hidden_size},
          {"num_heads", m.num_heads},
          {"num_kv_heads", m.num_kv_heads},
          {"head_dim", m.head_dim},
          {"ffn_size", m.ffn_size},
          {"vocab_size", m.vocab_size}};
}

std::string describe(const ProfileModelShape& m) {
  return m.name + " (" + m.family + ", layers " + std::to_string(m.num_layers) + ", hidden " +
         std::to_string(m.hidden_size) + ", heads " + std::to_string(m.num_heads) + "/" +
         std::to_string(m.num_kv_heads) + " kv, head_dim " + std::to_string(m.head_dim) +
         ", ffn " + std::to_string(m.ffn_size) + ", vocab " + std::to_string(m.vocab_size) + ")";
}

// Reads one field, naming it (dotted path) in the error.
class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const std::string& field, const std::string& message) const {
    throw InputError(source_, 0, field, message);
  }

  const Json& at(const Json& j, const std::string& key, const std::string& path) const {
    if (!j.is_object() || !j.contains(key)) fail(path + key, "missing");
    return j.at(key);
  }
  std::string str(const Json& j, const std::string& key, const std::string& path) const {
    const Json& v = at(j, key, path);
    if (!v.is_string()) fail(path + key, "must be a string");
    return v.get<std::string>();
  }
  double num(const Json& j, const std::string& key, const std::string& path) const {
    const Json& v = at(j, key, path);
    if (!v.is_number()) fail(path + key, "must be a number");
    return v.get<double>();
  }
  int32_t integer(const Json& j, const std::string& key, const std::string& path) const {
    const Json& v = at(j, key, path);
    if (!v.is_number_integer()) fail(path + key, "must be an integer");
    return v.get<int32_t>();
  }
  std::vector<double> numbers(const Json& j, const std::string& key,
                              const std::string& path) const {
    const Json& v = at(j, key, path);
    if (!v.is_array()) fail(path + key, "must be an array of numbers");
    std::vector<double> out;
    for (const Json& x : v) {
      if (!x.is_number()) fail(path + key, "must be an array of numbers");
      out.push_back(x.get<double>());
    }
    return out;
  }

 private:
  std::string source_;
};

ProfileTable read_table(const Reader& r, const Json& j, size_t index) {
  const std::string path = "tables[" + std::to_string(index) + "].";
  ProfileTable t;
  t.name = r.str(j, "name", path);
  const Json& axes = r.at(j, "axes", path);
  if (!axes.is_array() || axes.empty() || axes.size() > 2) {
    r.fail(path + "axes", "table '" + t.name + "' must have one or two axes");
  }
  for (size_t a = 0; a < axes.size(); ++a) {
    const std::string apath = path + "axes[" + std::to_string(a) + "].";
    ProfileAxis axis{r.str(axes[a], "name", apath), r.numbers(axes[a], "points", apath)};
    if (axis.points.empty()) r.fail(apath + "points", "table '" + t.name + "': no points");
    for (size_t i = 0; i < axis.points.size(); ++i) {
      if (!(axis.points[i] >= 0) || (i > 0 && !(axis.points[i] > axis.points[i - 1]))) {
        r.fail(apath + "points",
               "table '" + t.name + "': points must be >= 0 and strictly increasing");
      }
    }
    t.axes.push_back(std::move(axis));
  }
  t.median_s = r.numbers(j, "median_s", path);
  t.p10_s = r.numbers(j, "p10_s", path);
  t.p90_s = r.numbers(j, "p90_s", path);
  for (const auto& [name, values] :
       {std::pair{"median_s", &t.median_s}, {"p10_s", &t.p10_s}, {"p90_s", &t.p90_s}}) {
    if (values->size() != t.size()) {
      r.fail(path + name, "table '" + t.name + "' has " + std::to_string(values->size()) +
                              " values for a grid of " + std::to_string(t.size()) + " points");
    }
    for (double v : *values) {
      if (!(v >= 0)) r.fail(path + name, "table '" + t.name + "': times must be >= 0");
    }
  }
  return t;
}

MeasuredStep read_measured_step(const Reader& r, const Json& j, size_t index) {
  const std::string path = "measured_steps[" + std::to_string(index) + "].";
  MeasuredStep m;
  m.layout = r.str(j, "layout", path);
  m.seconds = r.num(j, "seconds", path);
  if (!(m.seconds > 0)) r.fail(path + "seconds", "must be > 0");
  const Json& prefills = r.at(j, "prefills", path);
  if (!prefills.is_array()) r.fail(path + "prefills", "must be an array");
  for (const Json& c : prefills) {
    if (!c.is_array() || c.size() != 3 || !c[0].is_number_integer() ||
        !c[1].is_number_integer() || !c[2].is_boolean() || c[0].get<int64_t>() < 0 ||
        c[1].get<int64_t>() < 1) {
      r.fail(path + "prefills",
             "each chunk must be [start >= 0, num_tokens >= 1, samples (true/false)]");
    }
    m.prefills.push_back({c[0].get<int64_t>(), c[1].get<int64_t>(), c[2].get<bool>()});
  }
  for (double len : r.numbers(j, "decode_context_lens", path)) {
    if (!(len >= 1) || len != static_cast<double>(static_cast<int64_t>(len))) {
      r.fail(path + "decode_context_lens", "context lengths must be whole numbers >= 1");
    }
    m.decode_context_lens.push_back(static_cast<int64_t>(len));
  }
  if (m.prefills.empty() && m.decode_context_lens.empty()) {
    r.fail(path, "a step with neither prefills nor decodes");
  }
  return m;
}

}  // namespace

std::string profile_to_json(const OperatorProfile& p) {
  Json overheads = Json::array();
  for (const ProfileOverhead& o : p.overheads) {
    Json scales = Json::object();
    for (int c = 0; c < kNumOperatorClasses; ++c) {
      scales[operator_class_name(static_cast<OperatorClass>(c))] = o.operator_scale[c];
    }
    overheads.push_back({{"layout", o.layout},
                         {"operator_scales", std::move(scales)},
                         {"base_s", o.base_s},
                         {"per_sequence_s", o.per_sequence_s},
                         {"per_token_s", o.per_token_s},
                         {"fit_steps", o.fit_steps},
                         {"fit_median_rel_error", o.fit_median_rel_error}});
  }
  Json tables = Json::array();
  for (const ProfileTable& t : p.tables) {
    Json axes = Json::array();
    for (const ProfileAxis& a : t.axes) axes.push_back({{"name", a.name}, {"points", a.points}});
    tables.push_back({{"name", t.name},
                      {"axes", std::move(axes)},
                      {"median_s", t.median_s},
                      {"p10_s", t.p10_s},
                      {"p90_s", t.p90_s}});
  }
  Json steps = Json::array();
  for (const MeasuredStep& m : p.fit_steps) {
    Json prefills = Json::array();
    for (const MeasuredStep::Chunk& c : m.prefills) {
      prefills.push_back(Json::array({c.start, c.num_tokens, c.samples}));
    }
    steps.push_back({{"layout", m.layout},
                     {"seconds", m.seconds},
                     {"prefills", std::move(prefills)},
                     {"decode_context_lens", m.decode_context_lens}});
  }
  const Json doc = {
      {"format", kFormat},
      {"version", OperatorProfile::kFormatVersion},
      {"backend", p.backend},
      {"device", p.device},
      {"compute_dtype", p.compute_dtype},
      {"kv_dtype", p.kv_dtype},
      {"model", shape_json(p.model)},
      {"devices", p.devices},
      {"threads", p.threads},
      {"repeats", p.repeats},
      {"date", p.date},
      {"commit", p.commit},
      {"command", p.command},
      {"overheads", std::move(overheads)},
      {"tables", std::move(tables)},
      {"measured_steps", std::move(steps)}};
  return doc.dump(1) + "\n";
}

OperatorProfile profile_from_json(const std::string& text, const std::string& source) {
  const Reader r(source);
  Json j;
  try {
    j = Json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(source, 0, "", std::string("not JSON: ") + e.what());
  }
  if (!j.is_object() || !j.contains("format") || j["format"] != kFormat) {
    r.fail("format", std::string("not a kvlab profile (expected \"format\": \"") + kFormat +
                         "\"; write one with kvlab profile)");
  }
  const int32_t version = r.integer(j, "version", "");
  if (version != OperatorProfile::kFormatVersion) {
    r.fail("version", "profile format version " + std::to_string(version) +
                          " is not supported (this kvlab reads " +
                          std::to_string(OperatorProfile::kFormatVersion) + ")");
  }
  OperatorProfile p;
  p.backend = r.str(j, "backend", "");
  p.device = r.str(j, "device", "");
  p.compute_dtype = r.str(j, "compute_dtype", "");
  p.kv_dtype = r.str(j, "kv_dtype", "");
  const Json& m = r.at(j, "model", "");
  p.model = {.name = r.str(m, "name", "model."),
             .family = r.str(m, "family", "model."),
             .num_layers = r.integer(m, "num_layers", "model."),
             .hidden_size = r.integer(m, "hidden_size", "model."),
             .num_heads = r.integer(m, "num_heads", "model."),
             .num_kv_heads = r.integer(m, "num_kv_heads", "model."),
             .head_dim = r.integer(m, "head_dim", "model."),
             .ffn_size = r.integer(m, "ffn_size", "model."),
             .vocab_size = r.integer(m, "vocab_size", "model.")};
  p.devices = r.integer(j, "devices", "");
  p.threads = r.integer(j, "threads", "");
  p.repeats = r.integer(j, "repeats", "");
  p.date = r.str(j, "date", "");
  p.commit = r.str(j, "commit", "");
  p.command = r.str(j, "command", "");
  const Json& os = r.at(j, "overheads", "");
  if (!os.is_array()) r.fail("overheads", "must be an array");
  for (size_t i = 0; i < os.size(); ++i) {
    const std::string path = "overheads[" + std::to_string(i) + "].";
    const Json& o = os[i];
    ProfileOverhead v;
    v.layout = r.str(o, "layout", path);
    if (o.contains("operator_scale") && o.contains("operator_scales")) {
      r.fail(path + "operator_scale", "give operator_scales or operator_scale, not both");
    }
    if (o.contains("operator_scale")) {
      // A profile written before 2026-12-06: one scale for every class.
      const double f = r.num(o, "operator_scale", path);
      if (!(f > 0)) r.fail(path + "operator_scale", "must be > 0");
      for (double& x : v.operator_scale) x = f;
    } else {
      const Json& scales = r.at(o, "operator_scales", path);
      const std::string spath = path + "operator_scales.";
      if (!scales.is_object()) r.fail(path + "operator_scales", "must be an object");
      for (const auto& [key, value] : scales.items()) {
        bool known = false;
        for (int c = 0; c < kNumOperatorClasses; ++c) {
          known = known || key == operator_class_name(static_cast<OperatorClass>(c));
        }
        if (!known) {
          r.fail(spath + key, "not an operator class (gemm, elementwise, prefill_attention, "
                              "decode_attention, sampling, copy)");
        }
      }
      for (int c = 0; c < kNumOperatorClasses; ++c) {
        const char* name = operator_class_name(static_cast<OperatorClass>(c));
        v.operator_scale[c] = r.num(scales, name, spath);
        if (!(v.operator_scale[c] > 0)) r.fail(spath + name, "must be > 0");
      }
    }
    v.base_s = r.num(o, "base_s", path);
    v.per_sequence_s = r.num(o, "per_sequence_s", path);
    v.per_token_s = r.num(o, "per_token_s", path);
    v.fit_steps = r.integer(o, "fit_steps", path);
    v.fit_median_rel_error = r.num(o, "fit_median_rel_error", path);
    for (const auto& [name, x] : {std::pair{"base_s", v.base_s},
                                  {"per_sequence_s", v.per_sequence_s},
                                  {"per_token_s", v.per_token_s}}) {
      if (!(x >= 0)) r.fail(path + name, "must be >= 0");
    }
    p.overheads.push_back(std::move(v));
  }
  const Json& tables = r.at(j, "tables", "");
  if (!tables.is_array()) r.fail("tables", "must be an array");
  for (size_t i = 0; i < tables.size(); ++i) {
    ProfileTable t = read_table(r, tables[i], i);
    if (p.find(t.name) != nullptr) r.fail("tables[" + std::to_string(i) + "].name",
                                          "table '" + t.name + "' appears twice");
    p.tables.push_back(std::move(t));
  }
  if (j.contains("measured_steps")) {  // absent in profiles written before 2026-12-06
    const Json& steps = j.at("measured_steps");
    if (!steps.is_array()) r.fail("measured_steps", "must be an array");
    for (size_t i = 0; i < steps.size(); ++i) {
      p.fit_steps.push_back(read_measured_step(r, steps[i], i));
    }
  }
  return p;
}

OperatorProfile read_profile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, 0, "", "cannot read the profile file");
  std::ostringstream text;
  text << in.rdbuf();
  return profile_from_json(text.str(), path);
}

void check_profile_matches(const OperatorProfile& profile, const ExperimentConfig& config,
                           const std::string& key) {
  const ProfileModelShape want = profile_shape_of(config.model);
  // The name is a label: two catalog names of one shape price alike.
  ProfileModelShape have = profile.model;
  have.name = want.name;
  if (!(have == want)) {
    fail_field(config.raw, key,
               "the profile was taken with model " + describe(profile.model) +
                   ", the experiment runs model " + describe(want) +
                   ": profile the experiment's model (kvlab profile)");
  }
  const std::string kv = kv_dtype_name(config.model.kv_dtype);
  if (profile.kv_dtype != kv) {
    fail_field(config.raw, key,
               "the profile was taken with KV dtype " + profile.kv_dtype +
                   ", the experiment stores memory.kv_dtype = " + kv +
                   ": profile with the experiment's memory.kv_dtype");
  }
}

OperatorProfile scaled_profile(OperatorProfile profile, double factor) {
  check_invariant(factor > 0, "scaled_profile: factor must be > 0");
  for (ProfileTable& t : profile.tables) {
    for (auto* values : {&t.median_s, &t.p10_s, &t.p90_s}) {
      for (double& v : *values) v *= factor;
    }
  }
  for (ProfileOverhead& o : profile.overheads) {
    o.base_s *= factor;
    o.per_sequence_s *= factor;
    o.per_token_s *= factor;
  }
  return profile;
}

}  // namespace kvlab
