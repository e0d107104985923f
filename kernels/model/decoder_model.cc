#include "kernels/model/decoder_model.h"

#include <string>

#include "core/errors.h"
#include "kernels/model/llama_model.h"
#include "kernels/model/opt_model.h"

namespace kvlab {

cpu::CpuKvCache DecoderModel::make_kv_cache(int64_t num_slots) const {
  const ModelSpec& s = spec();
  const ModelSpec& r = rank_spec();
  return cpu::CpuKvCache(s.num_layers, num_slots, r.num_kv_heads, s.head_dim, s.kv_dtype);
}

namespace {

void require_positive(const ModelSpec& spec, const char* field, int64_t value) {
  if (value <= 0) {
    throw InputError(
        "", 0, std::string("model.") + field,
        "model '" + spec.name + "' needs a positive value, got " + std::to_string(value));
  }
}

}  // namespace

void validate_decoder_sizes(const ModelSpec& spec) {
  require_positive(spec, "num_layers", spec.num_layers);
  require_positive(spec, "hidden_size", spec.hidden_size);
  require_positive(spec, "num_heads", spec.num_heads);
  require_positive(spec, "num_kv_heads", spec.num_kv_heads);
  require_positive(spec, "head_dim", spec.head_dim);
  require_positive(spec, "ffn_size", spec.ffn_size);
  require_positive(spec, "vocab_size", spec.vocab_size);
  require_positive(spec, "max_seq_len", spec.max_seq_len);
}

Registry<DecoderModel, DecoderModelInit>& cpu_model_families() {
  // Every family the CPU back end runs, listed here.
  static Registry<DecoderModel, DecoderModelInit> registry = [] {
    Registry<DecoderModel, DecoderModelInit> families("model family");
    register_llama_family(families);
    register_opt_family(families);
    return families;
  }();
  return registry;
}

std::unique_ptr<DecoderModel> make_decoder_model(const ModelSpec& spec,
                                                 const WeightSource& source, TpShard shard) {
  const auto& families = cpu_model_families();
  if (!families.contains(spec.family)) {
    std::string known;
    for (const std::string& name : families.names()) known += (known.empty() ? "" : ", ") + name;
    throw InputError("", 0, "model.family",
                     "model '" + spec.name + "' is of family '" + spec.family +
                         "'; the CPU model runs the families " + known);
  }
  return families.create(spec.family, DecoderModelInit{spec, source, shard});
}

}  // namespace kvlab
