// The tiny OPT model over real KV layouts. Against a naive implementation of the OPT formula
// (double precision, plain loops, weights fetched by Hugging Face name straight from the
// source): learned positions at row p + 2, biases where OPT has them, pre-LayerNorm, ReLU.
// Then the equivalences LlamaModel's tests pin: a request's logits and greedy tokens do not
// depend on its layout (paged block sizes 1, 16, 64 with shuffled blocks, or contiguous), on
// chunked prefill, on the other sequences of the batch, or on preemption (swap to other slots,
// or recompute). Also: dummy weights, the parameter count ModelSpec reports, the family
// factory, and bad input.
#include "kernels/model/opt_model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/model_spec.h"
#include "kernels/model/decoder_model.h"
#include "kernels/model/llama_model.h"
#include "kernels/model/weight_source.h"
#include "tests/kernels/model_test_util.h"

namespace kvlab {
namespace {

using testing::random_prompt;
using testing::relative_diff;
using testing::RunOptions;
using testing::tiny_opt_spec;

constexpr uint64_t kSeed = 2024;

const OptModel& tiny_model() {
  static const OptModel model(tiny_opt_spec(), DummyWeightSource(kSeed));
  return model;
}


// --- The formula, naively ------------------------------------------------------------------

std::vector<double> fetch(const WeightSource& source, const std::string& name,
                          std::vector<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> f(static_cast<size_t>(n));
  source.load(name, shape, f);
  return std::vector<double>(f.begin(), f.end());
}

// W [out][in] x + b.
std::vector<double> affine(const std::vector<double>& w, const std::vector<double>& b,
                           const std::vector<double>& x) {
  const size_t out = b.size(), in = x.size();
  std::vector<double> y(out);
  for (size_t o = 0; o < out; ++o) {
    double acc = b[o];
    for (size_t i = 0; i < in; ++i) acc += w[o * in + i] * x[i];
    y[o] = acc;
  }
  return y;
}

std::vector<double> layer_norm(const std::vector<double>& x, const std::vector<double>& w,
                               const std::vector<double>& b) {
  double mean = 0, var = 0;
  for (double v : x) mean += v;
  mean /= static_cast<double>(x.size());
  for (double v : x) var += (v - mean) * (v - mean);
  var /= static_cast<double>(x.size());
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = (x[i] - mean) / std::sqrt(var + 1e-5) * w[i] + b[i];
  return y;
}

// The logits after the last token of `prompt` (at positions 0 .. n - 1), computed from
// Hugging Face's OPTForCausalLM definition (do_layer_norm_before = True) with the lm_head
// untied.
std::vector<double> naive_opt_logits(const ModelSpec& s, const WeightSource& src,
                                     const std::vector<int32_t>& prompt) {
  const int64_t hidden = s.hidden_size, width = int64_t{s.num_heads} * s.head_dim, ffn = s.ffn_size;
  const auto n = prompt.size();
  const std::vector<double> embed =
      fetch(src, "model.decoder.embed_tokens.weight", {s.vocab_size, hidden});
  const std::vector<double> pos =
      fetch(src, "model.decoder.embed_positions.weight", {s.max_seq_len + 2, hidden});
  std::vector<std::vector<double>> h(n, std::vector<double>(static_cast<size_t>(hidden)));
  for (size_t t = 0; t < n; ++t) {
    for (int64_t i = 0; i < hidden; ++i) {
      // OPTLearnedPositionalEmbedding: position t reads row t + 2.
      h[t][size_t(i)] = embed[size_t(prompt[t] * hidden + i)] + pos[size_t((t + 2) * hidden + i)];
    }
  }
  for (int32_t l = 0; l < s.num_layers; ++l) {
    const std::string p = "model.decoder.layers." + std::to_string(l) + ".";
    auto weight = [&](const std::string& name, int64_t out, int64_t in) {
      return fetch(src, p + name + ".weight", {out, in});
    };
    auto vec = [&](const std::string& name, int64_t size) { return fetch(src, p + name, {size}); };
    const auto wq = weight("self_attn.q_proj", width, hidden),
               bq = vec("self_attn.q_proj.bias", width);
    const auto wk = weight("self_attn.k_proj", width, hidden),
               bk = vec("self_attn.k_proj.bias", width);
    const auto wv = weight("self_attn.v_proj", width, hidden),
               bv = vec("self_attn.v_proj.bias", width);
    const auto wo = weight("self_attn.out_proj", hidden, width);
    const auto bo = vec("self_attn.out_proj.bias", hidden);
    const auto ln1w = vec("self_attn_layer_norm.weight", hidden);
    const auto ln1b = vec("self_attn_layer_norm.bias", hidden);
    const auto ln2w = vec("final_layer_norm.weight", hidden);
    const auto ln2b = vec("final_layer_norm.bias", hidden);
    const auto w1 = weight("fc1", ffn, hidden), b1 = vec("fc1.bias", ffn);
    const auto w2 = weight("fc2", hidden, ffn), b2 = vec("fc2.bias", hidden);

    std::vector<std::vector<double>> q(n), k(n), v(n);
    for (size_t t = 0; t < n; ++t) {
      const auto a = layer_norm(h[t], ln1w, ln1b);
      q[t] = affine(wq, bq, a);
      k[t] = affine(wk, bk, a);
      v[t] = affine(wv, bv, a);
    }
    for (size_t t = 0; t < n; ++t) {
      std::vector<double> o(static_cast<size_t>(width), 0.0);
      for (int32_t head = 0; head < s.num_heads; ++head) {
        const size_t off = size_t(head) * size_t(s.head_dim);
        std::vector<double> score(t + 1);
        double max_score = -INFINITY, total = 0;
        for (size_t j = 0; j <= t; ++j) {
          double dot = 0;
          for (int32_t d = 0; d < s.head_dim; ++d)
            dot += q[t][off + size_t(d)] * k[j][off + size_t(d)];
          score[j] = dot / std::sqrt(double(s.head_dim));
          max_score = std::max(max_score, score[j]);
        }
        for (double& x : score) total += (x = std::exp(x - max_score));
        for (size_t j = 0; j <= t; ++j) {
          for (int32_t d = 0; d < s.head_dim; ++d) {
            o[off + size_t(d)] += score[j] / total * v[j][off + size_t(d)];
          }
        }
      }
      const auto attn = affine(wo, bo, o);
      for (int64_t i = 0; i < hidden; ++i) h[t][size_t(i)] += attn[size_t(i)];
      auto f = affine(w1, b1, layer_norm(h[t], ln2w, ln2b));
      for (double& x : f) x = std::max(x, 0.0);
      const auto mlp = affine(w2, b2, f);
      for (int64_t i = 0; i < hidden; ++i) h[t][size_t(i)] += mlp[size_t(i)];
    }
  }
  const auto fw = fetch(src, "model.decoder.final_layer_norm.weight", {hidden});
  const auto fb = fetch(src, "model.decoder.final_layer_norm.bias", {hidden});
  const auto head = fetch(src, "lm_head.weight", {s.vocab_size, hidden});
  return affine(head, std::vector<double>(size_t(s.vocab_size), 0.0), layer_norm(h[n - 1], fw, fb));
}

cpu::RowMatrix model_logits(const OptModel& model, const std::vector<int32_t>& prompt,
                            int32_t block_size) {
  testing::LayoutAllocator alloc = block_size == 0
                                       ? testing::LayoutAllocator::contiguous(256)
                                       : testing::LayoutAllocator::paged(block_size, 256, true);
  cpu::CpuKvCache cache = model.make_kv_cache(256);
  ForwardEntry entry{prompt, 0, alloc.allocate(static_cast<int64_t>(prompt.size())), true};
  return model.forward(std::vector<ForwardEntry>{entry}, cache);
}

void expect_matches_formula(const ModelSpec& spec, const std::vector<int32_t>& prompt) {
  const DummyWeightSource source(kSeed);
  const OptModel model(spec, source);
  const std::vector<double> naive = naive_opt_logits(spec, source, prompt);
  double max_abs = 0;
  for (double x : naive) max_abs = std::max(max_abs, std::abs(x));
  for (int32_t block_size : {0, 1, 4}) {
    const cpu::RowMatrix logits = model_logits(model, prompt, block_size);
    ASSERT_EQ(logits.rows(), 1);
    ASSERT_EQ(logits.cols(), spec.vocab_size);
    double max_diff = 0;
    for (int32_t i = 0; i < spec.vocab_size; ++i) {
      max_diff = std::max(max_diff, std::abs(double(logits(0, i)) - naive[size_t(i)]));
    }
    EXPECT_LT(max_diff, 1e-5 * max_abs) << "block size " << block_size;
  }
}

TEST(OptModel, OneLayerOneTokenMatchesTheFormula) {
  // One token: attention returns its own v, so this pins embeddings, the position row (p + 2),
  // LayerNorm placement and every bias but q's and k's.
  ModelSpec spec = tiny_opt_spec();
  spec.num_layers = 1;
  expect_matches_formula(spec, {17});
  expect_matches_formula(spec, {0});
}

TEST(OptModel, PromptsMatchTheFormula) {
  // Several tokens: causal attention over biased q and k, positions 0..n-1; two layers.
  ModelSpec one_layer = tiny_opt_spec();
  one_layer.num_layers = 1;
  expect_matches_formula(one_layer, random_prompt(6, 256, 41));
  expect_matches_formula(tiny_opt_spec(), random_prompt(9, 256, 42));
  expect_matches_formula(tiny_opt_spec(), {200});
}

// The dummy weights with rows of the position table overwritten.
class PatchedPositions : public WeightSource {
 public:
  PatchedPositions(int64_t first_row, int64_t rows, float value)
      : first_row_(first_row), rows_(rows), value_(value) {}
  void load(const std::string& name, std::span<const int64_t> shape,
            std::span<float> out) const override {
    inner_.load(name, shape, out);
    if (name != "model.decoder.embed_positions.weight") return;
    const auto cols = static_cast<size_t>(shape[1]);
    std::fill(out.begin() + static_cast<std::ptrdiff_t>(size_t(first_row_) * cols),
              out.begin() + static_cast<std::ptrdiff_t>(size_t(first_row_ + rows_) * cols), value_);
  }

 private:
  DummyWeightSource inner_{kSeed};
  int64_t first_row_, rows_;
  float value_;
};

TEST(OptModel, PositionPReadsTableRowPPlusTwo) {
  // Rows 0 and 1 (Hugging Face's offset) are never read; row 2 is, by position 0.
  const std::vector<int32_t> prompt = {5, 9, 13};
  const cpu::RowMatrix base = model_logits(tiny_model(), prompt, 16);
  const OptModel rows_0_1(tiny_opt_spec(), PatchedPositions(0, 2, 100.0f));
  EXPECT_EQ(model_logits(rows_0_1, prompt, 16), base);
  const OptModel row_2(tiny_opt_spec(), PatchedPositions(2, 1, 0.0f));
  EXPECT_GT(relative_diff(model_logits(row_2, prompt, 16), base), 1e-3);
  // Rows past the prompt's last position (row 3 + 2) are not read either.
  const OptModel row_5(tiny_opt_spec(), PatchedPositions(5, 1, 100.0f));
  EXPECT_EQ(model_logits(row_5, prompt, 16), base);
}

// --- Weights, parameter count, factory, bad input ------------------------------------------

TEST(OptModel, DummyWeightsFollowTheScheme) {
  const OptWeights& w = tiny_model().weights();
  const OptModel again(tiny_opt_spec(), DummyWeightSource(kSeed));
  EXPECT_EQ(again.weights().layers[1].qkv_proj, w.layers[1].qkv_proj);
  EXPECT_EQ(again.weights().layers[1].qkv_bias, w.layers[1].qkv_bias);
  EXPECT_NE(w.layers[0].fc1, w.layers[1].fc1);
  // Embeddings (tokens and positions) in [-1, 1); projections in +-sqrt(3 / in); biases in
  // +-0.1 around 0; LayerNorm weights within 0.1 of 1.
  EXPECT_LE(w.embed_positions.cwiseAbs().maxCoeff(), 1.0f);
  EXPECT_GT(w.embed_positions.cwiseAbs().maxCoeff(), 0.9f);
  EXPECT_LE(w.layers[0].fc2.cwiseAbs().maxCoeff(), std::sqrt(3.0f / 256.0f));
  for (const Eigen::VectorXf* bias :
       {&w.layers[0].qkv_bias, &w.layers[0].fc1_bias, &w.layers[1].out_bias, &w.final_norm_bias}) {
    EXPECT_LT(bias->cwiseAbs().maxCoeff(), 0.1f);
    EXPECT_GT(bias->cwiseAbs().maxCoeff(), 0.05f);
  }
  EXPECT_LT((w.layers[0].attn_norm_weight.array() - 1.0f).abs().maxCoeff(), 0.1f);
  // q, k and v biases are three tensors, not one stream: the fused vector's thirds differ.
  EXPECT_NE(w.layers[0].qkv_bias.head(64), w.layers[0].qkv_bias.segment(64, 64));
  // The position table: max_seq_len + 2 rows, and a row's values do not depend on the table's
  // length (rows are drawn in order), so a config that lowers model.max_seq_len runs the
  // catalog model's positions.
  EXPECT_EQ(w.embed_positions.rows(), 512 + 2);
  ModelSpec shorter = tiny_opt_spec();
  shorter.max_seq_len = 30;
  const OptModel short_model(shorter, DummyWeightSource(kSeed));
  EXPECT_EQ(short_model.weights().embed_positions, w.embed_positions.topRows(32));
}

TEST(OptModel, ParameterCountIsWhatTheModelHolds) {
  EXPECT_EQ(tiny_model().weights().num_params(), tiny_opt_spec().num_params());
  ModelSpec other = tiny_opt_spec();
  other.num_layers = 3;
  other.num_heads = other.num_kv_heads = 3;
  other.head_dim = 8;  // heads x head_dim != hidden
  other.hidden_size = 40;
  other.ffn_size = 72;
  other.max_seq_len = 100;
  EXPECT_EQ(OptModel(other, DummyWeightSource(1)).weights().num_params(), other.num_params());
  const LlamaModel llama(testing::tiny_llama_spec(), DummyWeightSource(1));
  EXPECT_EQ(llama.weights().num_params(), testing::tiny_llama_spec().num_params());
  // opt-13b by Hugging Face's modules: per layer 4 x (5120^2 + 5120) attention, 2 x 5120 x
  // 20480 + 20480 + 5120 MLP, 2 x 2 x 5120 LayerNorm = 314,639,360; x 40 layers; embeddings
  // 50272 x 5120; positions 2050 x 5120; final LayerNorm 2 x 5120: 12,853,473,280 with the
  // head tied, plus 257,392,640 for kvlab's untied head.
  EXPECT_EQ(model_catalog().get("opt-13b").num_params(), 12'853'473'280 + 257'392'640);
}

TEST(OptModel, CatalogTinyOptIsTheTestShape) {
  const ModelSpec& c = model_catalog().get("tiny-opt");
  const ModelSpec t = tiny_opt_spec();
  EXPECT_EQ(c.family, "opt");
  EXPECT_EQ(c.num_layers, t.num_layers);
  EXPECT_EQ(c.hidden_size, t.hidden_size);
  EXPECT_EQ(c.num_heads, t.num_heads);
  EXPECT_EQ(c.num_kv_heads, t.num_kv_heads);
  EXPECT_EQ(c.head_dim, t.head_dim);
  EXPECT_EQ(c.ffn_size, t.ffn_size);
  EXPECT_EQ(c.vocab_size, t.vocab_size);
  EXPECT_EQ(c.max_seq_len, t.max_seq_len);
  EXPECT_EQ(c.dtype_bytes, 4);
}

TEST(OptModel, FactoryPicksTheModelByFamily) {
  const DummyWeightSource source(3);
  const auto opt = make_decoder_model(tiny_opt_spec(), source);
  EXPECT_NE(dynamic_cast<const OptModel*>(opt.get()), nullptr);
  const auto llama = make_decoder_model(testing::tiny_llama_spec(), source);
  EXPECT_NE(dynamic_cast<const LlamaModel*>(llama.get()), nullptr);
  // The same weights and logits as a directly built model.
  const OptModel direct(tiny_opt_spec(), source);
  EXPECT_EQ(model_logits(dynamic_cast<const OptModel&>(*opt), {1, 2, 3}, 4),
            model_logits(direct, {1, 2, 3}, 4));
  ModelSpec gpt = tiny_opt_spec();
  gpt.name = "my-gpt";
  gpt.family = "gpt2";
  try {
    make_decoder_model(gpt, source);
    FAIL() << "family gpt2 accepted";
  } catch (const InputError& e) {
    const std::string what = e.what();
    for (const char* part : {"model.family", "my-gpt", "gpt2", "llama", "opt"}) {
      EXPECT_NE(what.find(part), std::string::npos) << part << " in: " << what;
    }
  }
}

TEST(OptModel, RefusesBadInput) {
  const OptModel& model = tiny_model();
  testing::LayoutAllocator alloc = testing::LayoutAllocator::contiguous(2048);
  cpu::CpuKvCache cache = model.make_kv_cache(2048);
  ForwardEntry bad_token{{3, 256}, 0, alloc.allocate(8), true};
  EXPECT_THROW(model.forward(std::vector<ForwardEntry>{bad_token}, cache), InputError);
  // Positions must lie in the learned table: max_seq_len 512 holds positions 0..511.
  ForwardEntry last_position{{3}, 511, alloc.allocate(512), true};
  EXPECT_NO_THROW(model.forward(std::vector<ForwardEntry>{last_position}, cache));
  ForwardEntry past_table{{3}, 512, alloc.allocate(513), true};
  try {
    model.forward(std::vector<ForwardEntry>{past_table}, cache);
    ADD_FAILURE() << "position 512 accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("model.max_seq_len"), std::string::npos) << e.what();
  }

  auto expect_field = [](ModelSpec spec, const char* field) {
    try {
      OptModel m(spec, DummyWeightSource(1));
      ADD_FAILURE() << "no error for " << field;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  };
  ModelSpec spec = tiny_opt_spec();
  spec.family = "llama";
  expect_field(spec, "model.family");
  spec = tiny_opt_spec();
  spec.num_kv_heads = 2;
  expect_field(spec, "model.num_kv_heads");
  spec = tiny_opt_spec();
  spec.max_seq_len = 0;
  expect_field(spec, "model.max_seq_len");
}

}  // namespace
}  // namespace kvlab
