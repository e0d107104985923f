// Fleet: where a cluster's replicas sit, and what moving KV between them costs (the
// KvTransferModel of a disaggregated cluster, core/cluster.h).
//
// Placement: replicas take GPUs in order, tensor_parallel GPUs each, packed onto nodes of their
// hardware's gpus_per_node and topology (sim/topology.h); a replica that does not fit in what
// is left of a node, or whose hardware differs from the node's, starts a new node. Node n's
// GPUs are numbered 0..gpus_per_node-1.
//
// A transfer of `bytes` from replica S (g_S GPUs) to replica D (g_D GPUs): each of S's GPUs
// holds 1/g_S of the KV (its KV heads) and sends it to D's GPU (k mod g_D), all at once.
//   same node:   the node's GPU-to-GPU route (NVSwitch, or through host memory on PCIe);
//   other nodes: GPU k's NIC out of S's node and GPU (k mod g_D)'s NIC into D's node, each
//                cluster.network_gb_s per direction, cluster.network_latency_us one way
//                (GPUDirect RDMA: one NIC per GPU, as DGX H100; the PCIe hop to the NIC is not
//                the bottleneck and is not priced).
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

struct FleetNetwork {
  double gb_s = 50;        // per GPU NIC, per direction
  double latency_us = 5;   // one way
};

class Fleet final : public KvTransferModel {
 public:
  // `replicas`: each replica's resolved config, in cluster order. Throws InputError naming
  // model.tensor_parallel when a replica needs more GPUs than its node has.
  Fleet(const std::vector<const ExperimentConfig*>& replicas, FleetNetwork network);

  struct Place {
    int32_t node = 0;
    int32_t first_gpu = 0;
    int32_t num_gpus = 1;
  };
  const Place& place(int32_t replica) const { return places_.at(static_cast<size_t>(replica)); }
  int32_t num_nodes() const { return static_cast<int32_t>(nodes_.size()); }

  double transfer(double ready_s, int64_t bytes, int32_t src, int32_t dst) override;

 private:
  // A link direction: (node, link id, direction) inside a node; (node, -1 - gpu, direction)
  // for GPU gpu's NIC.
  using LinkKey = std::tuple<int32_t, int32_t, int32_t>;
  std::vector<Place> places_;
  std::vector<NodeTopology> nodes_;
  FleetNetwork network_;
  std::map<LinkKey, double> busy_until_;
};

}  // namespace kvlab
