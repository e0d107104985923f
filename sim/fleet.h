// Fleet: where a cluster's replicas sit, and what moving KV between them costs (the
// KvTransferModel of a disaggregated cluster, core/cluster.h).
//
// Placement: replicas take GPUs in order, tensor_parallel x pipeline_parallel GPUs each
// (stage s, rank r on the replica's GPU s*T + r, as sim/topology.h places them), packed onto
// nodes of their hardware's gpus_per_node and topology. A replica that does not fit in what is
// left of a node, or whose hardware differs from the node's, starts a new node; one larger
// than a node takes whole nodes of its own.
//
// A transfer of `bytes` from replica S (g_S GPUs) to replica D (g_D GPUs): each of S's GPUs
// holds 1/g_S of the KV (its stage's layers, its rank's KV heads) and sends it to D's GPU
// (k mod g_D), all at once.
//   same node:   the node's GPU-to-GPU route (NVSwitch, or through host memory on PCIe);
//   other nodes: GPU k's NIC out of its node and the receiving GPU's NIC into its node, at
//                the slower of the two parts' hardware.network_gb_s (per direction) and the
//                larger hardware.network_latency_us (GPUDirect RDMA, one NIC per GPU; the PCIe
//                hop to the NIC is not the bottleneck and is not priced).
// A shard takes bytes / (slowest link on its route) + the route's latency. Links are
// reserved: a shard starts when every link direction on its route is free, and holds them
// until it is done, so transfers that share a link run one after another (the same total
// throughput as sharing it fairly, and deterministic). The transfer ends with its last shard.
//
// Thread safety: one Fleet per cluster run; not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <tuple>
#include <vector>

#include "core/cluster.h"
#include "core/experiment.h"
#include "sim/topology.h"

namespace kvlab {

class Fleet final : public KvTransferModel {
 public:
  // `replicas`: each replica's resolved config, in cluster order (kept by pointer: they must
  // outlive the Fleet).
  explicit Fleet(const std::vector<const ExperimentConfig*>& replicas);

  // Where GPU k of a replica is.
  struct GpuPlace {
    int32_t node = 0;
    int32_t gpu = 0;  // within the node
  };
  GpuPlace gpu_of(int32_t replica, int32_t k) const;
  int32_t num_gpus(int32_t replica) const;
  int32_t num_nodes() const { return static_cast<int32_t>(nodes_.size()); }

  double transfer(double ready_s, int64_t bytes, int32_t src, int32_t dst) override;

 private:
  struct Place {
    int32_t node = 0;       // of its first GPU
    int32_t first_gpu = 0;  // in that node
    int32_t num_gpus = 1;
    int32_t gpus_per_node = 1;
  };
  // A link direction: (node, link id, direction) inside a node; (node, -1 - gpu, direction)
  // for GPU gpu's NIC.
  using LinkKey = std::tuple<int32_t, int32_t, int32_t>;
  std::vector<const ExperimentConfig*> configs_;
  std::vector<Place> places_;
  std::vector<NodeTopology> nodes_;
  std::map<LinkKey, double> busy_until_;
};

}  // namespace kvlab
