#include "core/operator_profile.h"

#include "core/experiment.h"
#include "core/kv_cache_manager.h"

namespace kvlab {

std::string profile_layout_of(const ExperimentConfig& config) {
  const MemoryPolicyTraits& traits = memory_policies().entry(config.memory.policy).traits;
  const bool maps_pages = traits.vmm_page_bytes && traits.vmm_page_bytes(config.memory) > 0;
  const int64_t unit = traits.swap_unit_slots ? traits.swap_unit_slots(config.memory) : 0;
  if (!maps_pages && unit > 0) return "paged" + std::to_string(unit);
  return "contiguous";
}

int32_t profile_layout_block_size(const std::string& layout) {
  const std::string paged = "paged";
  if (layout.rfind(paged, 0) != 0) return 0;
  return static_cast<int32_t>(std::stoi(layout.substr(paged.size())));
}

const char* operator_class_name(OperatorClass c) {
  switch (c) {
    case OperatorClass::kGemm: return "gemm";
    case OperatorClass::kElementwise: return "elementwise";
    case OperatorClass::kPrefillAttention: return "prefill_attention";
    case OperatorClass::kDecodeAttention: return "decode_attention";
    case OperatorClass::kSampling: return "sampling";
    case OperatorClass::kCopy: return "copy";
  }
  return "?";
}

ProfileModelShape profile_shape_of(const ModelSpec& m) {
  return {.name = m.name,
          .family = m.family,
          .num_layers = m.num_layers,
          .hidden_size = m.hidden_size,
          .num_heads = m.num_heads,
          .num_kv_heads = m.num_kv_heads,
          .head_dim = m.head_dim,
          .ffn_size = m.ffn_size,
          .vocab_size = m.vocab_size};
}

}  // namespace kvlab
