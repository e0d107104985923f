// OperatorProfile: what `kvlab profile` measured of a real back end's operators, the table the
// profiled cost model (sim/profiled_cost_model.h) interpolates. Plain data; the file format
// (JSON, self-describing) is sim/profile_file.h, documented in docs/results-format.md.
//
// A table is a grid of 1 or 2 axes (tokens; batch x context; chunk x context; slots) with, at
// each grid point, the median seconds of one call of the operator and the spread of the
// repeats (10th and 90th percentiles). Values are row-major over the axes (the last axis
// fastest). Which tables a back end records, and what one call means, is listed in
// docs/results-format.md (section "Profile files").
//
// A back end that can be profiled gives ExecutorTraits::profile (core/executor.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/model_spec.h"

namespace kvlab {

struct ExperimentConfig;

struct ProfileAxis {
  std::string name;            // "tokens", "batch", "context", "chunk", "slots", "rows"
  std::vector<double> points;  // >= 0, strictly increasing
};

struct ProfileTable {
  std::string name;  // "layer_linear", "decode_attention_paged16", ...
  std::vector<ProfileAxis> axes;  // one or two
  std::vector<double> median_s;   // one per grid point, row-major
  std::vector<double> p10_s;
  std::vector<double> p90_s;
  size_t size() const {
    size_t n = 1;
    for (const ProfileAxis& a : axes) n *= a.points.size();
    return n;
  }
};

// The model shape a profile was taken with: a profile prices only experiments of this shape.
struct ProfileModelShape {
  std::string name;
  std::string family;
  int32_t num_layers = 0;
  int32_t hidden_size = 0;
  int32_t num_heads = 0;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;
  int32_t ffn_size = 0;
  int32_t vocab_size = 0;
  bool operator==(const ProfileModelShape&) const = default;
};

// The model shape of an experiment, as a profile records it.
ProfileModelShape profile_shape_of(const ModelSpec& model);

// The operator classes whose isolated times the fit scales separately: the profiled cost
// model's terms (sim/profiled_cost_model.h), attention split into prefill (chunks' attention
// and the cache writes) and decode. "copy" (KV copies and swaps) is not fitted: the fit's steps
// move no KV, so a fitted profile leaves it at 1.
enum class OperatorClass : int {
  kGemm,
  kElementwise,
  kPrefillAttention,
  kDecodeAttention,
  kSampling,
  kCopy,
};
inline constexpr int kNumOperatorClasses = 6;
inline constexpr int kNumFittedOperatorClasses = 5;  // all but kCopy
// Their names in profile files: "gemm", "elementwise", "prefill_attention", ...
const char* operator_class_name(OperatorClass c);

// How the operators' isolated times become a step's, fitted by least squares to whole steps
// the profiler ran (sim/profile_fit.h): each class's operator times are multiplied by its
// scale (operators inside a step find other caches and allocations than alone, and not alike
// for every operator), and the glue they do not cover (building the batch, the KV tables,
// allocating activations, the sampling loop) adds base + per_sequence x sequences + per_token x
// tokens (each >= 0).
struct ProfileOverhead {
  std::string layout;  // the attention layout whose steps it was fitted to (glue differs)
  double operator_scale[kNumOperatorClasses] = {1, 1, 1, 1, 1, 1};  // by OperatorClass
  double base_s = 0;
  double per_sequence_s = 0;
  double per_token_s = 0;
  int64_t fit_steps = 0;           // whole steps the fit used
  double fit_median_rel_error = 0; // of the operator sum + overhead against those steps

  double scale(OperatorClass c) const { return operator_scale[static_cast<int>(c)]; }
};

// A whole step the profiler ran to fit ProfileOverhead: its shape (prefill chunks and decode
// contexts, as StepShape counts them) and the measured median seconds. Written to profile files
// ("measured_steps") so that a profile can be refitted without measuring again.
struct MeasuredStep {
  struct Chunk {
    int64_t start = 0;
    int64_t num_tokens = 0;
    bool samples = false;
  };
  std::vector<Chunk> prefills;
  std::vector<int64_t> decode_context_lens;
  std::string layout;  // the KV layout it ran over ("contiguous", "paged16", ...)
  double seconds = 0;
};

struct OperatorProfile {
  static constexpr int kFormatVersion = 1;
  // Self-description.
  std::string backend;        // backend.kind that was profiled: "cpu"
  std::string device;         // the processor or GPU, as the system names it
  std::string compute_dtype;  // "fp32"
  std::string kv_dtype;       // memory.kv_dtype as stored: "fp32", "fp16", ...
  ProfileModelShape model;
  int32_t devices = 1;        // ranks the profile covers (all-reduce tables only when > 1)
  int32_t threads = 1;        // compute threads the back end used
  int32_t repeats = 0;        // timed repeats per grid point
  std::string date;           // UTC, ISO 8601
  std::string commit;         // kvlab's git commit at build time ("unknown" outside git)
  std::string command;        // the command line that made it
  std::vector<ProfileTable> tables;
  std::vector<ProfileOverhead> overheads;  // one per profiled layout
  // The whole steps measured for the overhead fit (sim/profile_fit.h fills `overheads` from
  // them); empty in a profile file written before they were stored.
  std::vector<MeasuredStep> fit_steps;

  // The overhead fitted for `layout`, or null.
  const ProfileOverhead* overhead_for(const std::string& layout) const {
    for (const ProfileOverhead& o : overheads) {
      if (o.layout == layout) return &o;
    }
    return nullptr;
  }
  // The table called `name`, or null.
  const ProfileTable* find(const std::string& name) const {
    for (const ProfileTable& t : tables) {
      if (t.name == name) return &t;
    }
    return nullptr;
  }
};

// The grid `kvlab profile` measures (its options); empty vectors take the back end's defaults.
struct ProfileGrid {
  std::vector<double> tokens;          // GEMMs, norms, activation, cache writes, embedding
  std::vector<double> batch;           // decode attention: sequences
  std::vector<double> context;         // decode and prefill attention: context length
  std::vector<double> chunk;           // prefill attention: query tokens of one chunk
  std::vector<double> slots;           // KV copies and swaps
  std::vector<int32_t> block_sizes;    // paged layouts profiled (contiguous always is)
  int32_t repeats = 15;                // timed repeats per point (after one warm-up)
  int32_t fit_steps = 120;             // whole steps run to fit the overhead
};

// The attention tables an experiment's memory layout reads: "paged<B>" for a memory policy
// that moves KV in blocks of B slots (MemoryPolicyTraits::swap_unit_slots: the paged policy's
// block size), else "contiguous"
// (a virtually contiguous policy too: real back ends run the contiguous kernels over it).
std::string profile_layout_of(const ExperimentConfig& config);
// The block size of a "paged<B>" layout name; 0 for "contiguous".
int32_t profile_layout_block_size(const std::string& layout);

}  // namespace kvlab
