#include "policies/eviction/eviction.h"

namespace kvlab {

void register_lru_eviction(EvictionPolicyRegistry& registry);       // lru.cc
void register_lfu_eviction(EvictionPolicyRegistry& registry);       // lfu.cc
void register_leaf_lru_eviction(EvictionPolicyRegistry& registry);  // leaf_lru.cc

EvictionPolicyRegistry& eviction_policies() {
  static EvictionPolicyRegistry registry("eviction policy", "memory.eviction");
  return registry;
}

void register_eviction_policies(EvictionPolicyRegistry& registry) {
  register_lru_eviction(registry);
  register_lfu_eviction(registry);
  register_leaf_lru_eviction(registry);
}

}  // namespace kvlab
