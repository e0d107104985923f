#include "kernels/cpu_profiler.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/kv_dtype.h"
#include "core/metrics.h"
#include "kernels/cpu/activation.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/cache_write.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/kv_copy.h"
#include "kernels/cpu/kv_quant.h"
#include "kernels/cpu/layer_norm.h"
#include "kernels/cpu/rms_norm.h"
#include "kernels/cpu/rotary.h"
#include "kernels/cpu/sampling.h"
#include "kernels/host_allocator.h"
#include "kernels/model/decoder_model.h"
#include "kernels/model/weight_source.h"

namespace kvlab {
namespace {

using cpu::RowMatrix;
using Eigen::Index;

// 1, 2, 3, 4, 6, 8, 12, 16, ... (powers of two and the points half way between them), up to
// and including `max`.
std::vector<double> default_points(double max, double first = 1) {
  std::vector<double> out;
  for (double p = 1; p < max; p *= 2) {
    if (p >= first) out.push_back(p);
    if (p >= 2 && p * 1.5 < max && p * 1.5 >= first) out.push_back(p * 1.5);
  }
  std::sort(out.begin(), out.end());
  if (out.empty() || out.back() < max) out.push_back(max);
  return out;
}

std::vector<double> or_default(const std::vector<double>& given, std::vector<double> fallback) {
  return given.empty() ? fallback : given;
}

struct Stats {
  double median = 0, p10 = 0, p90 = 0;
};

RowMatrix random_matrix(Index rows, Index cols, std::mt19937_64& rng, float scale = 1.0f) {
  std::uniform_real_distribution<float> u(-scale, scale);
  RowMatrix m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = u(rng);
  return m;
}

Eigen::VectorXf random_vector(Index n, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> u(0.9f, 1.1f);
  Eigen::VectorXf v(n);
  for (Index i = 0; i < n; ++i) v[i] = u(rng);
  return v;
}

// Every grid point's call, timed in rounds: one timed call of each point per round, `repeats`
// rounds (after a warm-up round), so a burst of load from other processes costs one sample of
// many points rather than every sample of one; the median then discards it. Each timed call
// follows an untimed one of the same point, so it finds its data in cache, as an operator
// inside a step finds the activations the previous one wrote.
class Rounds {
 public:
  size_t add(std::function<void()> call) {
    calls_.push_back(std::move(call));
    return calls_.size() - 1;
  }
  void run(int32_t repeats) {
    times_.assign(calls_.size(), {});
    for (auto& c : calls_) c();
    for (int32_t r = 0; r < repeats; ++r) {
      for (size_t i = 0; i < calls_.size(); ++i) {
        calls_[i]();  // untimed: the point's data back in cache, as inside a step
        const auto start = std::chrono::steady_clock::now();
        calls_[i]();
        times_[i].push_back(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      }
    }
    calls_.clear();  // frees what the calls held
  }
  Stats stats(size_t i) const {
    return {percentile(times_[i], 50), percentile(times_[i], 10), percentile(times_[i], 90)};
  }

 private:
  std::vector<std::function<void()>> calls_;
  std::vector<std::vector<double>> times_;
};

// A table whose points are calls in `rounds`; done() after rounds.run().
class TableBuilder {
 public:
  TableBuilder(Rounds& rounds, std::string name, std::vector<ProfileAxis> axes)
      : rounds_(&rounds) {
    table_.name = std::move(name);
    table_.axes = std::move(axes);
  }
  void add(std::function<void()> call) { points_.push_back(rounds_->add(std::move(call))); }
  ProfileTable done() const {
    ProfileTable t = table_;
    for (size_t i : points_) {
      const Stats s = rounds_->stats(i);
      t.median_s.push_back(s.median);
      t.p10_s.push_back(s.p10);
      t.p90_s.push_back(s.p90);
    }
    return t;
  }

 private:
  Rounds* rounds_;
  ProfileTable table_;
  std::vector<size_t> points_;
};

// A layer's weights of the model's shape (random values: times do not depend on them).
struct LayerOps {
  const ModelSpec& spec;
  RowMatrix qkv, o, up, down;  // up: gate_up (2 x ffn) or fc1 (ffn)
  Eigen::VectorXf qkv_b, o_b, up_b, down_b, norm_w, norm_b;
  RowMatrix embed, positions, lm_head;

  LayerOps(const ModelSpec& s, std::mt19937_64& rng) : spec(s) {
    const Index hidden = s.hidden_size;
    const Index q = static_cast<Index>(s.num_heads) * s.head_dim;
    const Index kv = static_cast<Index>(s.num_kv_heads) * s.head_dim;
    const Index up_rows = s.gated_mlp() ? 2 * Index{s.ffn_size} : Index{s.ffn_size};
    qkv = random_matrix(q + 2 * kv, hidden, rng, 0.1f);
    o = random_matrix(hidden, q, rng, 0.1f);
    up = random_matrix(up_rows, hidden, rng, 0.1f);
    down = random_matrix(hidden, s.ffn_size, rng, 0.1f);
    qkv_b = random_vector(qkv.rows(), rng);
    o_b = random_vector(hidden, rng);
    up_b = random_vector(up_rows, rng);
    down_b = random_vector(hidden, rng);
    norm_w = random_vector(hidden, rng);
    norm_b = random_vector(hidden, rng);
    embed = random_matrix(s.vocab_size, hidden, rng);
    if (s.learned_positions()) positions = random_matrix(s.max_seq_len + 2, hidden, rng);
    lm_head = random_matrix(s.vocab_size, hidden, rng, 0.1f);
  }

  void norm(const cpu::MatrixCRef& x, cpu::MatrixRef out) const {
    if (spec.has_biases()) {
      cpu::layer_norm(x, norm_w, norm_b, 1e-5f, out);
    } else {
      cpu::rms_norm(x, norm_w, 1e-5f, out);
    }
  }
};

// Layouts of `count` sequences of up to `per_seq` slots each: contiguous regions one after
// another, or (block_size > 0) blocks in a shuffled order over the arena.
std::vector<KvLayout> make_layouts(int64_t count, int64_t per_seq, int32_t block_size,
                                   std::mt19937_64& rng) {
  std::vector<KvLayout> out;
  if (block_size == 0) {
    for (int64_t i = 0; i < count; ++i) {
      KvLayout l;
      l.kind = KvLayout::Kind::kContiguous;
      l.base_slot = i * per_seq;
      l.reserved_slots = per_seq;
      out.push_back(l);
    }
    return out;
  }
  const int64_t blocks_per_seq = (per_seq + block_size - 1) / block_size;
  std::vector<int32_t> blocks(static_cast<size_t>(count * blocks_per_seq));
  std::iota(blocks.begin(), blocks.end(), 0);
  std::shuffle(blocks.begin(), blocks.end(), rng);
  for (int64_t i = 0; i < count; ++i) {
    KvLayout l;
    l.kind = KvLayout::Kind::kPaged;
    l.block_size = block_size;
    l.block_table.assign(blocks.begin() + i * blocks_per_seq,
                         blocks.begin() + (i + 1) * blocks_per_seq);
    out.push_back(l);
  }
  return out;
}

int64_t arena_slots(int64_t count, int64_t per_seq, int32_t block_size) {
  if (block_size == 0) return count * per_seq;
  return count * ((per_seq + block_size - 1) / block_size) * block_size;
}

using Tables = std::vector<TableBuilder>;

void profile_linear(Rounds& rounds, const std::shared_ptr<const LayerOps>& ops,
                    const std::vector<double>& tokens, std::mt19937_64& rng, Tables& out) {
  TableBuilder b(rounds, "layer_linear", {{"tokens", tokens}});
  const ModelSpec& s = ops->spec;
  for (double tv : tokens) {
    const auto t = static_cast<Index>(tv);
    b.add([ops, x = random_matrix(t, s.hidden_size, rng), h = random_matrix(t, s.hidden_size, rng),
           qkv = RowMatrix(t, ops->qkv.rows()), up = RowMatrix(t, ops->up.rows()),
           attn = random_matrix(t, ops->o.cols(), rng),
           act = random_matrix(t, s.ffn_size, rng)]() mutable {
      if (ops->spec.has_biases()) {
        cpu::linear(x, ops->qkv, ops->qkv_b, qkv);
        cpu::linear_accumulate(attn, ops->o, ops->o_b, h);
        cpu::linear(x, ops->up, ops->up_b, up);
        cpu::linear_accumulate(act, ops->down, ops->down_b, h);
      } else {
        cpu::linear(x, ops->qkv, qkv);
        cpu::linear_accumulate(attn, ops->o, h);
        cpu::linear(x, ops->up, up);
        cpu::linear_accumulate(act, ops->down, h);
      }
    });
  }
  out.push_back(std::move(b));
}

void profile_elementwise(Rounds& rounds, const std::shared_ptr<const LayerOps>& ops,
                         const std::vector<double>& tokens, std::mt19937_64& rng, Tables& out) {
  TableBuilder b(rounds, "layer_elementwise", {{"tokens", tokens}});
  const ModelSpec& s = ops->spec;
  const Index q = static_cast<Index>(s.num_heads) * s.head_dim;
  const Index kv = static_cast<Index>(s.num_kv_heads) * s.head_dim;
  for (double tv : tokens) {
    const auto t = static_cast<Index>(tv);
    std::vector<int32_t> positions(static_cast<size_t>(t));
    std::iota(positions.begin(), positions.end(), 0);
    b.add([ops, q, kv, positions, h = random_matrix(t, s.hidden_size, rng),
           x = RowMatrix(t, s.hidden_size), qkv = random_matrix(t, q + 2 * kv, rng),
           up = random_matrix(t, s.gated_mlp() ? 2 * Index{s.ffn_size} : s.ffn_size, rng),
           act = RowMatrix(t, s.ffn_size)]() mutable {
      const ModelSpec& m = ops->spec;
      ops->norm(h, x);
      if (!m.learned_positions()) {
        cpu::apply_rotary(qkv.leftCols(q), m.head_dim, positions, m.rope_theta);
        cpu::apply_rotary(qkv.middleCols(q, kv), m.head_dim, positions, m.rope_theta);
      }
      ops->norm(h, x);
      if (m.gated_mlp()) {
        cpu::silu_and_mul(up, act);
      } else {
        cpu::relu(up, act);
      }
    });
  }
  out.push_back(std::move(b));
}

void profile_embedding(Rounds& rounds, const std::shared_ptr<const LayerOps>& ops,
                       const std::vector<double>& tokens, std::mt19937_64& rng, Tables& out) {
  TableBuilder b(rounds, "embedding", {{"tokens", tokens}});
  const ModelSpec& s = ops->spec;
  std::uniform_int_distribution<int32_t> id(0, s.vocab_size - 1);
  for (double tv : tokens) {
    const auto t = static_cast<Index>(tv);
    std::vector<int32_t> ids(static_cast<size_t>(t));
    for (int32_t& i : ids) i = id(rng);
    b.add([ops, ids, t] {
      const ModelSpec& m = ops->spec;
      RowMatrix h(t, m.hidden_size);
      for (Index r = 0; r < t; ++r) {
        h.row(r) = ops->embed.row(ids[static_cast<size_t>(r)]);
        if (m.learned_positions()) h.row(r) += ops->positions.row(r % (m.max_seq_len + 2));
      }
    });
  }
  out.push_back(std::move(b));
}

void profile_lm_head(Rounds& rounds, const std::shared_ptr<const LayerOps>& ops,
                     const std::vector<double>& rows, std::mt19937_64& rng, Tables& out) {
  TableBuilder b(rounds, "lm_head", {{"rows", rows}});
  const ModelSpec& s = ops->spec;
  for (double rv : rows) {
    const auto n = static_cast<Index>(rv);
    b.add([ops, n, h = random_matrix(n, s.hidden_size, rng)] {
      RowMatrix last = h;
      ops->norm(last, last);
      RowMatrix logits(n, ops->spec.vocab_size);
      cpu::linear(last, ops->lm_head, logits);
    });
  }
  out.push_back(std::move(b));
}

void profile_sampling(Rounds& rounds, const ExperimentConfig& config,
                      const std::vector<double>& rows, std::mt19937_64& rng, Tables& out) {
  TableBuilder b(rounds, "sampling", {{"rows", rows}});
  const int32_t vocab = config.model.vocab_size;
  std::uniform_int_distribution<int32_t> id(0, vocab - 1);
  for (double rv : rows) {
    const auto n = static_cast<Index>(rv);
    std::vector<std::vector<int32_t>> history(static_cast<size_t>(n));
    for (auto& h : history) {
      h.resize(static_cast<size_t>(std::min(config.model.max_seq_len, 64)));
      for (int32_t& t : h) t = id(rng);
    }
    b.add([n, vocab, history, params = config.backend.sampling,
           logits = random_matrix(n, vocab, rng, 4.0f)] {
      int32_t sink = 0;
      for (Index r = 0; r < n; ++r) {
        const auto& h = history[static_cast<size_t>(r)];
        sink += cpu::sample_token(
            std::span<const float>(logits.row(r).data(), static_cast<size_t>(vocab)), params, h,
            0, static_cast<int64_t>(h.size()));
      }
      if (sink < 0) throw InvariantError("sampling profile: negative token id");
    });
  }
  out.push_back(std::move(b));
}

std::shared_ptr<cpu::CpuKvCache> filled_cache(const ModelSpec& s, int32_t layers, int64_t slots) {
  auto cache = std::make_shared<cpu::CpuKvCache>(layers, slots, s.num_kv_heads, s.head_dim,
                                                 cpu::cpu_kv_storage(s.kv_dtype));
  cache->fill(0.01f);
  return cache;
}

void profile_attention(Rounds& rounds, const ExperimentConfig& config, const std::string& layout,
                       int32_t block_size, const ProfileGrid& g, std::mt19937_64& rng,
                       Tables& out) {
  const ModelSpec& s = config.model;
  const int32_t heads = s.num_heads;
  const Index qw = static_cast<Index>(s.num_heads) * s.head_dim;
  const int64_t max_context = static_cast<int64_t>(g.context.back());
  const int64_t max_batch = static_cast<int64_t>(g.batch.back());
  {  // decode: `batch` sequences at `context` each
    const int64_t slots = arena_slots(max_batch, max_context, block_size);
    auto cache = filled_cache(s, 1, slots);
    const std::vector<KvLayout> layouts = make_layouts(max_batch, max_context, block_size, rng);
    TableBuilder b(rounds, "decode_attention_" + layout,
                   {{"batch", g.batch}, {"context", g.context}});
    for (double bv : g.batch) {
      const auto n = static_cast<int64_t>(bv);
      const std::vector<KvLayout> used(layouts.begin(), layouts.begin() + n);
      for (double cv : g.context) {
        const std::vector<int32_t> lens(static_cast<size_t>(n), static_cast<int32_t>(cv));
        auto tables = std::make_shared<KvBatchTables>(KvBatchTables::build(used, lens, slots));
        b.add([cache, tables, heads, q = random_matrix(n, qw, rng), o = RowMatrix(n, qw)]() mutable {
          cpu::decode_attention(q, tables->view(), cache->store(0), heads, o);
        });
      }
    }
    out.push_back(std::move(b));
  }
  {  // prefill: one chunk of `chunk` tokens after `start`
    const int64_t per_seq = static_cast<int64_t>(g.chunk.back()) + max_context;
    const int64_t slots = arena_slots(1, per_seq, block_size);
    auto cache = filled_cache(s, 1, slots);
    const std::vector<KvLayout> layouts = make_layouts(1, per_seq, block_size, rng);
    std::vector<double> starts = {0};
    for (double c : g.context) starts.push_back(c);
    TableBuilder b(rounds, "prefill_attention_" + layout, {{"chunk", g.chunk}, {"start", starts}});
    for (double cv : g.chunk) {
      const auto n = static_cast<Index>(cv);
      const std::vector<int32_t> indptr = {0, static_cast<int32_t>(n)};
      for (double sv : starts) {
        const std::vector<int32_t> lens = {static_cast<int32_t>(sv + cv)};
        auto tables = std::make_shared<KvBatchTables>(KvBatchTables::build(layouts, lens, slots));
        b.add([cache, tables, heads, indptr, q = random_matrix(n, qw, rng),
               o = RowMatrix(n, qw)]() mutable {
          cpu::prefill_attention(q, indptr, tables->view(), cache->store(0), heads, o);
        });
      }
    }
    out.push_back(std::move(b));
  }
}

void profile_cache_write(Rounds& rounds, const ExperimentConfig& config,
                         const std::vector<double>& tokens, std::mt19937_64& rng, Tables& out) {
  const ModelSpec& s = config.model;
  const Index kvw = static_cast<Index>(s.num_kv_heads) * s.head_dim;
  auto cache = filled_cache(s, 1, static_cast<int64_t>(tokens.back()));
  TableBuilder b(rounds, "cache_write", {{"tokens", tokens}});
  for (double tv : tokens) {
    const auto t = static_cast<Index>(tv);
    std::vector<int64_t> slots(static_cast<size_t>(t));
    std::iota(slots.begin(), slots.end(), 0);
    b.add([cache, slots, k = random_matrix(t, kvw, rng), v = random_matrix(t, kvw, rng)] {
      cpu::write_kv(k, v, slots, cache->store(0));
    });
  }
  out.push_back(std::move(b));
}

void profile_copies(Rounds& rounds, const ExperimentConfig& config,
                    const std::vector<double>& slots, Tables& out) {
  const ModelSpec& s = config.model;
  const auto max = static_cast<int64_t>(slots.back());
  auto device = filled_cache(s, s.num_layers, 2 * max);
  auto host = filled_cache(s, s.num_layers, max);
  TableBuilder copy(rounds, "kv_copy", {{"slots", slots}});
  TableBuilder swap(rounds, "swap_copy", {{"slots", slots}});
  for (double nv : slots) {
    const auto n = static_cast<int64_t>(nv);
    const std::vector<KvCopy> within = {{.src_slot = 0, .dst_slot = max, .num_slots = n}};
    copy.add([device, within] { cpu::copy_kv_within(*device, within); });
    const std::vector<KvCopy> across = {{.src_slot = 0, .dst_slot = 0, .num_slots = n}};
    // Out and in alternate, as a swap's copies go one way then the other.
    swap.add([device, host, across, out_next = true]() mutable {
      if (out_next) {
        cpu::swap_out(*device, *host, across);
      } else {
        cpu::swap_in(*host, *device, across);
      }
      out_next = !out_next;
    });
  }
  out.push_back(std::move(copy));
  out.push_back(std::move(swap));
}

// Whole steps through the real model and sampler: random mixes within the scheduler's limits.
std::vector<MeasuredStep> run_fit_steps(const ExperimentConfig& config, const ProfileGrid& g,
                                        const std::string& layout, std::mt19937_64& rng) {
  const ModelSpec& s = config.model;
  const auto model = make_decoder_model(s, DummyWeightSource(config.backend.weights_seed));
  const int32_t max_seqs = std::max(1, config.scheduler.max_num_seqs);
  const int64_t max_tokens = config.scheduler.max_batched_tokens;
  const int32_t max_len = std::max(4, std::min(s.max_seq_len, config.scheduler.max_seq_len));
  const int32_t block_size = profile_layout_block_size(layout);
  cpu::CpuKvCache cache = model->make_kv_cache(arena_slots(max_seqs + 2, max_len, block_size));
  const std::vector<KvLayout> layouts = make_layouts(max_seqs + 2, max_len, block_size, rng);
  std::uniform_int_distribution<int32_t> id(0, s.vocab_size - 1);
  std::vector<MeasuredStep> out;
  std::vector<std::vector<std::vector<int32_t>>> all_ids;  // per step, per sequence
  out.reserve(static_cast<size_t>(g.fit_steps));
  all_ids.reserve(static_cast<size_t>(g.fit_steps));
  for (int32_t k = 0; k < g.fit_steps; ++k) {
    MeasuredStep step;
    step.layout = layout;
    // A third decode-only, a third prefill-only, a third mixed.
    const int kind = k % 3;
    int64_t tokens = 0;
    if (kind != 1) {
      const int32_t n = std::uniform_int_distribution<int32_t>(1, max_seqs)(rng);
      for (int32_t i = 0; i < n && tokens < max_tokens; ++i) {
        step.decode_context_lens.push_back(
            std::uniform_int_distribution<int64_t>(2, max_len - 1)(rng));
        ++tokens;
      }
    }
    if (kind != 0) {
      // Up to max_seqs chunks (a burst's first step prefills many prompts at once).
      const auto seqs_left =
          std::max<int32_t>(1, max_seqs - static_cast<int32_t>(step.decode_context_lens.size()));
      const int32_t chunks = std::uniform_int_distribution<int32_t>(1, seqs_left)(rng);
      for (int32_t c = 0; c < chunks; ++c) {
        const int64_t room = std::min<int64_t>(max_tokens - tokens, max_len - 1);
        if (room < 2) break;
        const int64_t n = std::uniform_int_distribution<int64_t>(2, room)(rng);
        const int64_t start =
            std::uniform_int_distribution<int64_t>(0, 3)(rng) == 0
                ? std::uniform_int_distribution<int64_t>(0, max_len - 1 - n)(rng)
                : 0;
        step.prefills.push_back({start, n, true});
        tokens += n;
      }
    }
    if (step.prefills.empty() && step.decode_context_lens.empty()) continue;
    // Token ids for every sequence's positions, drawn once.
    std::vector<std::vector<int32_t>> ids;
    for (const auto& c : step.prefills) {
      std::vector<int32_t> v(static_cast<size_t>(c.start + c.num_tokens));
      for (int32_t& t : v) t = id(rng);
      ids.push_back(std::move(v));
    }
    for (int64_t len : step.decode_context_lens) {
      std::vector<int32_t> v(static_cast<size_t>(len));
      for (int32_t& t : v) t = id(rng);
      ids.push_back(std::move(v));
    }
    out.push_back(std::move(step));
    all_ids.push_back(std::move(ids));
  }
  // Timed in rounds (one call of each step per round), like the operators.
  Rounds rounds;
  for (size_t k = 0; k < out.size(); ++k) {
    const MeasuredStep& step = out[k];
    const auto& ids = all_ids[k];
    // What the executor does per step: the batch's entries (token ids copied, layouts from the
    // manager), the forward, one sample per sampling entry.
    rounds.add([&step, &ids, &layouts, &model, &cache, &config] {
      std::vector<ForwardEntry> entries;
      size_t seq = 0;
      for (const auto& c : step.prefills) {
        const auto& v = ids[seq];
        entries.push_back({std::vector<int32_t>(v.begin() + c.start, v.end()),
                           static_cast<int32_t>(c.start), layouts[seq], c.samples});
        ++seq;
      }
      for (int64_t len : step.decode_context_lens) {
        const auto& v = ids[seq];
        entries.push_back({std::vector<int32_t>(v.end() - 1, v.end()),
                           static_cast<int32_t>(len - 1), layouts[seq], true});
        ++seq;
      }
      const RowMatrix logits = model->forward(entries, cache);
      const auto cols = static_cast<size_t>(logits.cols());
      int32_t sink = 0;
      for (Index r = 0; r < logits.rows(); ++r) {
        const auto& h = ids[static_cast<size_t>(r)];
        sink += cpu::sample_token(std::span<const float>(logits.row(r).data(), cols),
                                  config.backend.sampling, h, 0, static_cast<int64_t>(h.size()));
      }
      if (sink < 0) throw InvariantError("profile: negative token id");
    });
  }
  rounds.run(std::max(3, g.repeats / 3));
  for (size_t k = 0; k < out.size(); ++k) out[k].seconds = rounds.stats(k).median;
  return out;
}

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown CPU";
}

}  // namespace

OperatorProfile profile_cpu_backend(const ExperimentConfig& config, const ProfileGrid& given) {
  retain_freed_host_memory();  // as the cpu back end's steps run
  const ModelSpec& s = config.model;
  const int32_t max_len = std::min(s.max_seq_len, config.scheduler.max_seq_len);
  ProfileGrid g = given;
  const auto max_tokens =
      static_cast<double>(std::min<int64_t>(config.scheduler.max_batched_tokens, 8192));
  const double max_seqs = std::max(1, config.scheduler.max_num_seqs);
  g.tokens = or_default(g.tokens, default_points(max_tokens));
  g.batch = or_default(g.batch, default_points(max_seqs));
  g.context = or_default(g.context, default_points(max_len));
  g.chunk = or_default(g.chunk, default_points(std::min<double>(max_tokens, max_len)));
  g.slots = or_default(g.slots, default_points(2.0 * max_len));
  const std::vector<double> rows = default_points(max_seqs + 2);
  if (g.block_sizes.empty()) {
    g.block_sizes = {16};
    const int32_t block_size = profile_layout_block_size(profile_layout_of(config));
    if (block_size > 0 && block_size != 16) g.block_sizes.push_back(block_size);
  }

  std::mt19937_64 rng(0x6b766c6162ULL);  // "kvlab"
  OperatorProfile p;
  p.backend = "cpu";
  p.device = cpu_name();
  p.compute_dtype = "fp32";
  p.kv_dtype = kv_dtype_name(s.kv_dtype);
  p.model = profile_shape_of(s);
  p.devices = 1;
  p.threads = 1;
  p.repeats = g.repeats;

  std::vector<std::string> layouts = {"contiguous"};
  for (int32_t bs : g.block_sizes) layouts.push_back("paged" + std::to_string(bs));
  Rounds rounds;
  Tables tables;
  {
    const auto ops = std::make_shared<const LayerOps>(s, rng);
    profile_linear(rounds, ops, g.tokens, rng, tables);
    profile_elementwise(rounds, ops, g.tokens, rng, tables);
    profile_embedding(rounds, ops, g.tokens, rng, tables);
    profile_cache_write(rounds, config, g.tokens, rng, tables);
    profile_lm_head(rounds, ops, rows, rng, tables);
    profile_sampling(rounds, config, rows, rng, tables);
    for (const std::string& layout : layouts) {
      profile_attention(rounds, config, layout, profile_layout_block_size(layout), g, rng, tables);
    }
    profile_copies(rounds, config, g.slots, tables);
  }
  rounds.run(g.repeats);
  for (const TableBuilder& t : tables) p.tables.push_back(t.done());
  for (const std::string& layout : layouts) {
    std::vector<MeasuredStep> steps = run_fit_steps(config, g, layout, rng);
    p.fit_steps.insert(p.fit_steps.end(), steps.begin(), steps.end());
  }
  return p;
}

}  // namespace kvlab
