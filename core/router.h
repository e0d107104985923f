// Router: the cluster's global scheduler (core/cluster.h). When a request arrives it picks the
// replica that serves it, from what each replica's engine shows at that moment: its requests
// still outstanding, its memory manager (read-only: free slots, the prefix it has cached for
// the request) and its role. Implementations live in policies/routing/ and are found by name
// (`cluster.router`, and `cluster.decode_router` for the decode pool of a disaggregated
// cluster); like every policy, a router decides and owns no engine state.
//
// Determinism: route() sees only the replicas' state and the request, and a router that draws
// (power_of_two) seeds its stream from RouterConfig::seed, so the same run routes alike.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/kv_cache_manager.h"
#include "core/registry.h"
#include "core/request.h"

namespace kvlab {

// One replica as a router sees it when a request arrives.
struct ReplicaView {
  int32_t index = 0;                      // in the cluster (0..replicas-1)
  int64_t outstanding = 0;                // requests routed here, not yet finished or rejected
  const KvCacheManager* kv = nullptr;     // its memory manager, read-only
  // Slots held (not free), as a share of capacity: 1 - free_slots / capacity_slots.
  double kv_load() const;
};

struct RouterConfig {
  uint64_t seed = 0;  // streams of routers that draw
  Config settings;    // the experiment's config: a router reads its own keys (cluster.*)
};

class Router {
 public:
  virtual ~Router() = default;
  virtual std::string name() const = 0;
  // The replica (an index into `replicas`, which is never empty) for `request`, which the
  // caller has wrapped in a group of its own (`group`: its sequences, for the managers'
  // prefix probes). Called once per request, in arrival order.
  virtual size_t route(const SequenceGroup& group, const std::vector<ReplicaView>& replicas) = 0;
};

// The replica among `candidates` (indices into `replicas`) with the fewest outstanding
// requests, ties to the lowest index. REQUIRES: candidates not empty.
size_t least_outstanding_of(const std::vector<ReplicaView>& replicas,
                            const std::vector<size_t>& candidates);

using RouterRegistry = Registry<Router, RouterConfig>;
RouterRegistry& routers();

}  // namespace kvlab
