// A sweep point's cluster (core/cluster.h), resolved: its replicas' configs and roles, its
// routers and the network between nodes. [cluster] keys and [replica.NAME] sections
// (core/config.h) say what it is; one replica of the experiment's settings when neither does.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/cluster.h"
#include "core/config.h"
#include "core/experiment.h"
#include "sim/fleet.h"

namespace kvlab {

struct ReplicaSetup {
  ExperimentConfig config;
  ReplicaRole role = ReplicaRole::kMixed;
  std::string name;  // its [replica.NAME] group ("" without groups)
};

struct ClusterSetup {
  std::vector<ReplicaSetup> replicas;
  std::string router;
  std::string decode_router;  // used when disaggregated
  bool disaggregated() const;
};

// Resolves `point` (one sweep point) whose experiment-wide settings resolved to `base`.
// Every replica's settings are validated (resolve_experiment, validate_engine_config). Throws
// InputError naming the key: cluster.replicas disagreeing with the groups' counts, more than
// one replica on a real back end, roles that mix prefill/decode with mixed or lack one of them,
// a disaggregated cluster with workload.n > 1 or multi-turn conversations.
ClusterSetup resolve_cluster(const Config& point, const ExperimentConfig& base);

// Builds the cluster: an engine per replica (make_engine), the routers, and for a
// disaggregated cluster the fleet that prices KV transfers. `audit_every_step` as Engine's.
std::unique_ptr<Cluster> make_cluster(const ClusterSetup& setup, const ExperimentConfig& base,
                                      bool audit_every_step);

}  // namespace kvlab
