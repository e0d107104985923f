// NodeTopology: one server's interconnect as a graph (Boost.Graph adjacency_list), to price
// data movement: KV swaps between a GPU and host memory, and tensor-parallel all-reduce.
//
// Vertices: GPU 0..g-1; PCIe switches, one per pair of GPUs; the host (CPU root complex and
// its DRAM); and, for topology `nvswitch`, one NVSwitch. Links are full duplex: each
// direction has the listed bandwidth, shared equally among the transfers that cross it in
// that direction at the same time.
//   GPU i -- PCIe switch i/2    host_link_gb_s  the GPU's own x16 link
//   PCIe switch -- host         host_link_gb_s  the switch's x16 uplink, shared by its GPUs
//   GPU i -- NVSwitch           nvlink_gb_s     nvswitch only
// Two GPUs per PCIe switch is the DGX/HGX A100 and H100 layout (four PCIe switches, each
// serving two GPUs and their NICs over one x16 uplink to a CPU); commodity 8-GPU PCIe servers
// are built the same way. So when all 8 GPUs swap at once, each gets half an uplink.
//
// `nvswitch`: GPU-to-GPU traffic takes the NVSwitch (the lowest-latency route).
// `pcie`: GPUs have no link to one another: peer traffic is staged through host memory
// (NCCL's shared-memory transport when PCIe peer-to-peer is unavailable), so it crosses both
// GPUs' PCIe links and their switches' uplinks.
//
// Latencies are one-way, per link, of the right order (PCIe ~1 us per hop, NVLink ~0.5 us):
// they matter only for small all-reduces. Per-copy software overhead is not the topology's
// business: the cost model adds backend.swap_overhead_us per transfer.
//
// Thread safety: immutable after build(); all queries are const and safe to share.
#pragma once

#include <boost/graph/adjacency_list.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/experiment.h"
#include "core/model_spec.h"

namespace kvlab {

enum class NodeVertexKind { kGpu, kPcieSwitch, kHost, kNvSwitch };
const char* to_string(NodeVertexKind kind);

struct NodeVertex {
  NodeVertexKind kind = NodeVertexKind::kGpu;
  int32_t index = 0;  // among the vertices of its kind
};

struct NodeLink {
  int32_t id = 0;         // 0..num_links-1, in creation order
  double gb_s = 0;        // per direction, 1e9 bytes/s
  double latency_us = 0;  // one way
};

using NodeGraph =
    boost::adjacency_list<boost::vecS, boost::vecS, boost::undirectedS, NodeVertex, NodeLink>;
using NodeVertexId = NodeGraph::vertex_descriptor;

// One link crossed in one direction.
struct NodeHop {
  int32_t link = 0;
  NodeVertexId from = 0;
  NodeVertexId to = 0;
};

struct NodePath {
  std::vector<NodeVertexId> vertices;  // source first, target last
  std::vector<NodeHop> hops;           // vertices.size() - 1 of them
  double bottleneck_gb_s = 0;          // slowest link (0 for an empty path)
  double latency_us = 0;               // sum over the hops
};

// A route's speed under a given sharing: bytes / gb_s + latency.
struct TransferRate {
  double gb_s = 0;        // the route's share of bandwidth
  double latency_us = 0;  // one way, summed over its links
  // REQUIRES: bytes >= 0. 0 for 0 bytes.
  double seconds(int64_t bytes) const;
};

// Ring all-reduce of `bytes` among p GPUs, each ring step i -> i+1 (mod p) running at once
// along its route: 2(p-1)/p * bytes / bottleneck + 2(p-1) * latency, where the bottleneck
// is the smallest shared bandwidth among the p routes and latency the largest route latency.
// 0 for p = 1 or 0 bytes.
struct RingAllReduce {
  int32_t num_gpus = 1;
  double bottleneck_gb_s = 0;
  double step_latency_us = 0;
  double seconds(int64_t bytes) const;
};

class NodeTopology {
 public:
  inline static constexpr int32_t kGpusPerPcieSwitch = 2;
  inline static constexpr int32_t kMaxGpusPerNode = 256;
  inline static constexpr double kPcieHopLatencyUs = 1.0;
  inline static constexpr double kNvlinkHopLatencyUs = 0.5;

  // Builds the node of `gpus_per_node` GPUs of `hw` connected as `topology` (nvswitch | pcie).
  // Throws InputError naming hardware.topology (unknown name, or nvswitch on a part without
  // NVLink) or hardware.gpus_per_node (< 1 or > kMaxGpusPerNode); `origins` (may be null)
  // supplies where those values came from.
  static NodeTopology build(const HardwareSpec& hw, int32_t gpus_per_node,
                            const std::string& topology, const Config* origins = nullptr);
  // The node of `config.hardware` (gpus_per_node and topology already resolved), after
  // checking config.tensor_parallel against it and the model (validate_tensor_parallel).
  static NodeTopology for_experiment(const ExperimentConfig& config);

  const std::string& kind() const { return kind_; }
  int32_t num_gpus() const { return num_gpus_; }
  const NodeGraph& graph() const { return graph_; }
  NodeVertexId gpu(int32_t i) const;  // REQUIRES: 0 <= i < num_gpus()
  NodeVertexId host() const { return host_; }

  // The lowest-latency route between two vertices (Dijkstra over link latencies; ties are
  // broken by vertex order, the same way on every run).
  NodePath path(NodeVertexId from, NodeVertexId to) const;
  // The route of GPU a's data to GPU b: path() for nvswitch, through the host for pcie.
  const NodePath& gpu_path(int32_t a, int32_t b) const;
  // The route between GPU i and host memory.
  const NodePath& host_path(int32_t i) const;

  // The bandwidth (GB/s) each of `flows` gets when all run at once: each link direction's
  // bandwidth is split equally among the flows crossing it that way, and a flow gets the
  // smallest such share along its path.
  std::vector<double> shared_bandwidths_gb_s(const std::vector<NodePath>& flows) const;

  // GPU `gpu`'s route to (or from) host memory while GPUs 0..concurrent_gpus-1 each move data
  // the same way at once. REQUIRES: 0 <= gpu < concurrent_gpus <= num_gpus().
  TransferRate host_transfer_rate(int32_t gpu, int32_t concurrent_gpus) const;
  // Seconds for that GPU to move `bytes` (0 for none). REQUIRES: bytes >= 0.
  double host_transfer_seconds(int32_t gpu, int64_t bytes, int32_t concurrent_gpus) const;
  // When the slowest of those GPUs is done, each moving `bytes`.
  double parallel_host_transfer_seconds(int64_t bytes, int32_t concurrent_gpus) const;

  // The ring all-reduce among GPUs 0..num_gpus-1 (see RingAllReduce).
  // REQUIRES: 1 <= num_gpus <= num_gpus().
  RingAllReduce ring_allreduce(int32_t num_gpus) const;
  double allreduce_seconds(int64_t bytes, int32_t num_gpus) const {
    return ring_allreduce(num_gpus).seconds(bytes);
  }

 private:
  NodeTopology() = default;
  NodePath path_from_tree(const std::vector<NodeVertexId>& predecessors, NodeVertexId from,
                          NodeVertexId to) const;
  NodePath concatenate(const NodePath& first, const NodePath& second) const;

  std::string kind_;
  int32_t num_gpus_ = 0;
  int32_t num_links_ = 0;
  NodeGraph graph_;
  NodeVertexId host_ = 0;
  std::vector<NodePath> host_paths_;  // GPU i -> host
  std::vector<NodePath> peer_paths_;  // GPU a -> GPU b at a * num_gpus + b
};

// Tensor parallelism must fit in the node and split the attention heads and the KV heads
// evenly. Throws InputError naming model.tensor_parallel otherwise; `origins` may be null.
void validate_tensor_parallel(const ModelSpec& model, int32_t tensor_parallel,
                              int32_t gpus_per_node, const Config* origins = nullptr);

}  // namespace kvlab
