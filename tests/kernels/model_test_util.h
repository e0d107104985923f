// Tiny Llama and OPT shapes and a small driver that runs generation (greedy unless told otherwise)
// for several sequences at once over the real KV layouts (paged, shuffled blocks, or contiguous),
// with optional chunked prefill and preemption (swap out and back in to other slots, or recompute).
#pragma once

#include <algorithm>
#include <limits>
#include <vector>

#include "core/model_spec.h"
#include "kernels/cpu/cache_write.h"
#include "kernels/cpu/kv_copy.h"
#include "kernels/cpu/sampling.h"
#include "kernels/model/decoder_model.h"
#include "kernels/model/llama_model.h"
#include "tests/kernels/kernel_test_util.h"

namespace kvlab::testing {

inline ModelSpec tiny_llama_spec() {
  ModelSpec s;
  s.name = "tiny-llama";
  s.family = "llama";
  s.num_layers = 2;
  s.hidden_size = 64;
  s.num_heads = 4;
  s.num_kv_heads = 2;
  s.head_dim = 16;
  s.ffn_size = 128;
  s.vocab_size = 256;
  s.max_seq_len = 512;
  s.dtype_bytes = 4;
  s.rope_theta = 10000.0;
  return s;
}

// The catalog's tiny-opt shape (core/catalog.cc), spelled out so these tests do not depend on
// the catalog: OPT's architecture, multi-head, ffn = 4 x hidden.
inline ModelSpec tiny_opt_spec() {
  ModelSpec s;
  s.name = "tiny-opt";
  s.family = "opt";
  s.num_layers = 2;
  s.hidden_size = 64;
  s.num_heads = 4;
  s.num_kv_heads = 4;
  s.head_dim = 16;
  s.ffn_size = 256;
  s.vocab_size = 256;
  s.max_seq_len = 512;
  s.dtype_bytes = 4;
  s.rope_theta = 0.0;
  return s;
}

inline std::vector<int32_t> random_prompt(int32_t len, int32_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> ids;
  for (int32_t i = 0; i < len; ++i) ids.push_back(static_cast<int32_t>(rng() % vocab));
  return ids;
}

struct RunOptions {
  int32_t block_size = 16;  // 0: contiguous
  bool shuffle = true;      // paged: blocks in a shuffled order
  int32_t chunk = 0;        // > 0: prefill at most this many tokens per step
  int64_t arena_slots = 4096;
  cpu::SamplingParams sampling = {};  // greedy by default
};

class GenerationRunner {
 public:
  GenerationRunner(const DecoderModel& model, RunOptions options)
      : model_(model),
        options_(options),
        alloc_(
            options.block_size == 0
                ? LayoutAllocator::contiguous(options.arena_slots)
                : LayoutAllocator::paged(options.block_size, options.arena_slots, options.shuffle)),
        cache_(model.make_kv_cache(options.arena_slots)),
        host_(model.make_kv_cache(options.arena_slots)) {
    // Nothing may read a slot before it is written.
    cache_.fill(std::numeric_limits<float>::quiet_NaN());
  }

  // Adds a sequence that will generate `max_new` tokens; returns its index.
  int add(std::vector<int32_t> prompt, int32_t max_new) {
    Seq s;
    s.prompt_len = static_cast<int32_t>(prompt.size());
    s.tokens = std::move(prompt);
    s.max_new = max_new;
    s.layout = alloc_.allocate(s.prompt_len + max_new);
    seqs_.push_back(std::move(s));
    return static_cast<int>(seqs_.size()) - 1;
  }

  bool done() const {
    return std::all_of(seqs_.begin(), seqs_.end(), [](const Seq& s) { return s.finished(); });
  }

  // One engine step: every unfinished sequence contributes its pending tokens (a prefill
  // chunk of at most options.chunk, or its one decode token).
  void step() {
    std::vector<ForwardEntry> batch;
    std::vector<size_t> members;
    for (size_t i = 0; i < seqs_.size(); ++i) {
      Seq& s = seqs_[i];
      if (s.finished()) continue;
      const auto pending = static_cast<int32_t>(s.tokens.size()) - s.computed;
      const int32_t n = options_.chunk > 0 ? std::min(options_.chunk, pending) : pending;
      ForwardEntry e;
      e.tokens.assign(s.tokens.begin() + s.computed, s.tokens.begin() + s.computed + n);
      e.start = s.computed;
      e.layout = s.layout;
      e.samples = s.computed + n == static_cast<int32_t>(s.tokens.size());
      batch.push_back(std::move(e));
      members.push_back(i);
    }
    const cpu::RowMatrix logits = model_.forward(batch, cache_);
    Eigen::Index row = 0;
    for (size_t m = 0; m < members.size(); ++m) {
      Seq& s = seqs_[members[m]];
      s.computed += static_cast<int32_t>(batch[m].tokens.size());
      if (!batch[m].samples) continue;
      const cpu::RowMatrix r = logits.row(row++);
      if (s.first_logits.size() == 0) s.first_logits = r;
      // The new token's position is the sequence's current length.
      const int32_t token =
          cpu::sample_token(std::span<const float>(r.data(), size_t(r.cols())), options_.sampling,
                            s.tokens, /*sample_index=*/0, static_cast<int64_t>(s.tokens.size()));
      s.tokens.push_back(token);
      s.generated.push_back(token);
    }
  }

  void run() {
    while (!done()) step();
  }
  // Steps until sequence i has generated `count` tokens.
  void run_until(int i, int32_t count) {
    while (static_cast<int32_t>(seqs_[size_t(i)].generated.size()) < count) step();
  }

  // Swap preemption: the computed KV of sequence i goes to the host pool, its device slots
  // are overwritten with NaN, it gets a fresh layout elsewhere in the arena and its KV comes
  // back in there.
  void swap_out_and_in(int i) {
    Seq& s = seqs_[size_t(i)];
    std::vector<KvCopy> out, in;
    for (int32_t t = 0; t < s.computed; ++t) out.push_back({s.layout.slot_of(t), t, 1});
    cpu::swap_out(cache_, host_, out);
    poison(s.layout, s.computed);
    s.layout = alloc_.allocate(s.prompt_len + s.max_new);
    for (int32_t t = 0; t < s.computed; ++t) in.push_back({t, s.layout.slot_of(t), 1});
    cpu::swap_in(host_, cache_, in);
  }

  // Recompute preemption: the KV is dropped (poisoned) and the sequence, prompt and the
  // tokens generated so far, is prefilled again into a fresh layout.
  void recompute(int i) {
    Seq& s = seqs_[size_t(i)];
    poison(s.layout, s.computed);
    s.computed = 0;
    s.layout = alloc_.allocate(s.prompt_len + s.max_new);
  }

  const std::vector<int32_t>& generated(int i) const { return seqs_[size_t(i)].generated; }
  const cpu::RowMatrix& first_logits(int i) const { return seqs_[size_t(i)].first_logits; }
  cpu::CpuKvCache& cache() { return cache_; }

 private:
  struct Seq {
    std::vector<int32_t> tokens;
    std::vector<int32_t> generated;
    int32_t prompt_len = 0;
    int32_t max_new = 0;
    int32_t computed = 0;
    KvLayout layout;
    cpu::RowMatrix first_logits;
    bool finished() const { return static_cast<int32_t>(generated.size()) >= max_new; }
  };

  void poison(const KvLayout& layout, int32_t num_tokens) {
    std::vector<int64_t> slots;
    cpu::append_slot_mapping(layout, 0, num_tokens, slots);
    const int64_t width = int64_t{model_.spec().num_kv_heads} * model_.spec().head_dim;
    const cpu::RowMatrix nan =
        cpu::RowMatrix::Constant(num_tokens, width, std::numeric_limits<float>::quiet_NaN());
    for (int32_t l = 0; l < model_.spec().num_layers; ++l) {
      cpu::write_kv(nan, nan, slots, cache_.layer(l));
    }
  }

  const DecoderModel& model_;
  RunOptions options_;
  LayoutAllocator alloc_;
  cpu::CpuKvCache cache_;
  cpu::CpuKvCache host_;
  std::vector<Seq> seqs_;
};

// Request A of the model tests: 37 tokens of a 256-token vocabulary.
inline std::vector<int32_t> prompt_a() { return random_prompt(37, 256, 1); }

struct GenerationResult {
  std::vector<int32_t> tokens;  // generated
  cpu::RowMatrix first_logits;  // after the prompt
};

// Request A generating `new_tokens`, alone or with two companions of other lengths sharing
// its batches (prefills, chunks and decodes).
inline GenerationResult run_a(const DecoderModel& model, RunOptions options, int32_t new_tokens,
                              bool with_companions = false) {
  GenerationRunner runner(model, options);
  if (with_companions) runner.add(random_prompt(5, 256, 2), 20);
  const int a = runner.add(prompt_a(), new_tokens);
  if (with_companions) runner.add(random_prompt(70, 256, 3), 3);
  runner.run();
  return {runner.generated(a), runner.first_logits(a)};
}

// max |a - b| over max |b|: logits agree to this relative precision.
inline double relative_diff(const cpu::RowMatrix& a, const cpu::RowMatrix& b) {
  return static_cast<double>((a - b).cwiseAbs().maxCoeff()) /
         static_cast<double>(b.cwiseAbs().maxCoeff());
}

}  // namespace kvlab::testing
