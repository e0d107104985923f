// The built-in routers of a cluster (core/router.h):
//   round_robin        replicas in turn, whatever their load (vLLM's and Vidur's default)
//   least_outstanding  fewest requests routed and not yet done, running ones included (Vidur's
//                      "lor" counts only queued ones; llm-d's queue scorer)
//   least_kv           least KV memory held (1 - free / capacity slots, each replica's own
//                      manager), then fewest outstanding
//   power_of_two       two replicas drawn at random, the one with fewer outstanding requests
//                      (Mitzenmacher's power of two choices)
//   prefix_affinity    the replica whose prefix cache holds the longest prefix of the prompt
//                      (its manager's probe_cached_prefix), unless that replica has more than
//                      cluster.affinity_max_imbalance requests above the least loaded one; no
//                      cached prefix anywhere: least outstanding. SGLang's cache-aware router
//                      and llm-d's prefix scorer work this way (they approximate the caches;
//                      the simulator can ask them).
// Ties go to the lowest replica index.
#pragma once

#include "core/router.h"

namespace kvlab {

void register_routers(RouterRegistry& registry);

}  // namespace kvlab
