// NodeTopology: the interconnect of one server, or of several servers on a network, as a graph
// (Boost.Graph adjacency_list), to price data movement: KV swaps between a GPU and host memory,
// tensor-parallel all-reduce, pipeline-parallel activations between stages, and KV transfers
// between GPUs (disaggregated prefill and decode).
//
// Each node: GPUs; PCIe switches, one per pair of GPUs; the host (CPU root complex and its
// DRAM); for topology `nvswitch`, one NVSwitch; and, when there are several nodes, one NIC per
// GPU on the GPU's PCIe switch, all NICs joined by one non-blocking fabric switch. Links are
// full duplex: each direction has the listed bandwidth, shared equally among the transfers
// that cross it in that direction at the same time.
//   GPU i -- PCIe switch i/2    host_link_gb_s      the GPU's own x16 link
//   PCIe switch -- host         host_link_gb_s      the switch's x16 uplink, shared by its GPUs
//   GPU i -- NVSwitch           nvlink_gb_s         nvswitch only
//   PCIe switch -- NIC i        host_link_gb_s      the NIC's x16 slot (several nodes only)
//   NIC i -- fabric             network_gb_s        the NIC's port; latency network_latency_us/2
// Two GPUs per PCIe switch is the DGX/HGX A100 and H100 layout (four PCIe switches, each
// serving two GPUs and their NICs over one x16 uplink to a CPU); commodity 8-GPU PCIe servers
// are built the same way. So when all 8 GPUs swap at once, each gets half an uplink. DGX nodes
// have one compute NIC per GPU (rail-optimized), so GPU i talks to other nodes through NIC i
// (GPUDirect RDMA: GPU -> PCIe switch -> NIC, no host memory), and the fabric (a fat tree in
// practice) is taken as non-blocking: only the NICs' ports are shared.
//
// GPUs are numbered across the nodes: node 0's first, then node 1's, ...
// `nvswitch`: GPU-to-GPU traffic within a node takes the NVSwitch (the lowest-latency route).
// `pcie`: GPUs have no link to one another: peer traffic within a node is staged through host
// memory (NCCL's shared-memory transport when PCIe peer-to-peer is unavailable), so it crosses
// both GPUs' PCIe links and their switches' uplinks.
// Between nodes: GPU a -> its PCIe switch -> NIC a -> fabric -> NIC b -> PCIe switch -> GPU b.
//
// Latencies are one-way, per link, of the right order (PCIe ~1 us per hop, NVLink ~0.5 us, the
// network's from the hardware entry: ~1 us NIC to NIC on InfiniBand, so ~5 us GPU to remote
// GPU): they matter only for small transfers. Per-copy software overhead is not the topology's
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

enum class NodeVertexKind { kGpu, kPcieSwitch, kHost, kNvSwitch, kNic, kFabric };
const char* to_string(NodeVertexKind kind);

struct NodeVertex {
  NodeVertexKind kind = NodeVertexKind::kGpu;
  int32_t index = 0;  // among the vertices of its kind on its node
  int32_t node = 0;   // the node it belongs to (the fabric: 0)
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
  double gb_s = 0;        // the route's share of bandwidth (infinite for a GPU to itself)
  double latency_us = 0;  // one way, summed over its links
  // REQUIRES: bytes >= 0. 0 for 0 bytes.
  double seconds(int64_t bytes) const;
};

// One GPU-to-GPU transfer, by global GPU index.
struct GpuTransfer {
  int32_t src = 0;
  int32_t dst = 0;
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
  inline static constexpr int32_t kMaxNodes = 4096;
  inline static constexpr double kPcieHopLatencyUs = 1.0;
  inline static constexpr double kNvlinkHopLatencyUs = 0.5;

  // Builds the node of `gpus_per_node` GPUs of `hw` connected as `topology` (nvswitch | pcie).
  // Throws InputError naming hardware.topology (unknown name, or nvswitch on a part without
  // NVLink) or hardware.gpus_per_node (< 1 or > kMaxGpusPerNode); `origins` (may be null)
  // supplies where those values came from.
  static NodeTopology build(const HardwareSpec& hw, int32_t gpus_per_node,
                            const std::string& topology, const Config* origins = nullptr);
  // Several nodes on one network, node k built from nodes[k] (its gpus_per_node, topology and
  // network figures; the entries may differ: a heterogeneous fleet). One node builds exactly
  // build()'s graph (no NIC, no fabric). Throws InputError as build(), or naming
  // hardware.network_gb_s (not > 0) or hardware.network_latency_us (< 0) when there are
  // several nodes. REQUIRES: 1 <= nodes.size() <= kMaxNodes.
  static NodeTopology build_cluster(const std::vector<HardwareSpec>& nodes,
                                    const Config* origins = nullptr);
  // What one replica of `config` runs on: tensor_parallel x pipeline_parallel GPUs (stage s,
  // rank r on GPU s * tp + r), on as many nodes of config.hardware (gpus_per_node, topology and
  // network already resolved) as they need, after checking the parallelism against them and
  // the model (validate_tensor_parallel, validate_pipeline_parallel).
  static NodeTopology for_experiment(const ExperimentConfig& config);

  const std::string& kind() const { return nodes_.front().kind; }  // node 0's
  int32_t num_nodes() const { return static_cast<int32_t>(nodes_.size()); }
  int32_t num_gpus() const { return static_cast<int32_t>(gpus_.size()); }  // on all nodes
  int32_t node_of(int32_t gpu) const;        // REQUIRES: 0 <= gpu < num_gpus()
  int32_t first_gpu(int32_t node) const;     // REQUIRES: 0 <= node < num_nodes()
  int32_t gpus_on_node(int32_t node) const;  // likewise
  const NodeGraph& graph() const { return graph_; }
  NodeVertexId gpu(int32_t i) const;          // REQUIRES: 0 <= i < num_gpus()
  NodeVertexId host(int32_t node = 0) const;  // REQUIRES: 0 <= node < num_nodes()

  // The lowest-latency route between two vertices (Dijkstra over link latencies; ties are
  // broken by vertex order, the same way on every run).
  NodePath path(NodeVertexId from, NodeVertexId to) const;
  // The route of GPU a's data to GPU b (an empty path for a == b): within a node, path() for
  // nvswitch and through the host for pcie; between nodes, through NIC a and NIC b.
  NodePath gpu_path(int32_t a, int32_t b) const;
  // The route between GPU i and its node's host memory.
  const NodePath& host_path(int32_t i) const;

  // The bandwidth (GB/s) each of `flows` gets when all run at once: each link direction's
  // bandwidth is split equally among the flows crossing it that way, and a flow gets the
  // smallest such share along its path (infinite for an empty path).
  std::vector<double> shared_bandwidths_gb_s(const std::vector<NodePath>& flows) const;

  // GPU `gpu`'s route to (or from) host memory while GPUs 0..concurrent_gpus-1 each move data
  // the same way at once (each to its own node's host). REQUIRES: 0 <= gpu < concurrent_gpus
  // <= num_gpus().
  TransferRate host_transfer_rate(int32_t gpu, int32_t concurrent_gpus) const;
  // Seconds for that GPU to move `bytes` (0 for none). REQUIRES: bytes >= 0.
  double host_transfer_seconds(int32_t gpu, int64_t bytes, int32_t concurrent_gpus) const;
  // When the slowest of those GPUs is done, each moving `bytes`.
  double parallel_host_transfer_seconds(int64_t bytes, int32_t concurrent_gpus) const;

  // GPU-to-GPU transfers that run at once, each along gpu_path(src, dst), sharing the links
  // they cross (shared_bandwidths_gb_s): each one's rate, in order. REQUIRES: every index in
  // [0, num_gpus()).
  std::vector<TransferRate> transfer_rates(const std::vector<GpuTransfer>& transfers) const;
  // Seconds to move `bytes` of KV (or any data) from GPU src to GPU dst while the transfers in
  // `concurrent` (others, not this one) run at the same time: bytes / (its share of the
  // slowest link on its route) + the route's latency. 0 for 0 bytes or src == dst. A TP-sharded
  // KV moves as one transfer per rank: pass the other ranks' transfers as `concurrent`.
  // Used for disaggregated prefill -> decode KV transfer. REQUIRES: bytes >= 0, GPU indices in
  // [0, num_gpus()).
  double kv_transfer_seconds(int64_t bytes, int32_t src, int32_t dst,
                             const std::vector<GpuTransfer>& concurrent = {}) const;

  // The ring all-reduce among GPUs 0..num_gpus-1 (see RingAllReduce).
  // REQUIRES: 1 <= num_gpus <= num_gpus().
  RingAllReduce ring_allreduce(int32_t num_gpus) const;
  // The ring all-reduce among `gpus` in that order (a pipeline stage's TP group).
  // REQUIRES: non-empty, every index in [0, num_gpus()).
  RingAllReduce ring_allreduce(const std::vector<int32_t>& gpus) const;
  double allreduce_seconds(int64_t bytes, int32_t num_gpus) const {
    return ring_allreduce(num_gpus).seconds(bytes);
  }

 private:
  struct Node {
    std::string kind;  // nvswitch | pcie
    int32_t first_gpu = 0;
    int32_t num_gpus = 0;
    NodeVertexId host = 0;
    std::vector<NodePath> peer_paths;  // local GPU a -> local GPU b at a * num_gpus + b
  };
  struct Gpu {
    NodeVertexId vertex = 0;
    int32_t node = 0;
    NodePath host_path;    // GPU -> its host
    NodePath fabric_path;  // GPU -> its NIC -> the fabric (several nodes only)
  };

  NodeTopology() = default;
  NodePath path_from_tree(const std::vector<NodeVertexId>& predecessors, NodeVertexId from,
                          NodeVertexId to) const;
  NodePath path_along(const std::vector<NodeVertexId>& vertices) const;
  NodePath concatenate(const NodePath& first, const NodePath& second) const;

  int32_t num_links_ = 0;
  NodeGraph graph_;
  std::vector<Node> nodes_;
  std::vector<Gpu> gpus_;
};

// Tensor parallelism must fit in the node and split the attention heads and the KV heads
// evenly. Throws InputError naming model.tensor_parallel otherwise; `origins` may be null.
void validate_tensor_parallel(const ModelSpec& model, int32_t tensor_parallel,
                              int32_t gpus_per_node, const Config* origins = nullptr);

// Pipeline parallelism needs 1 <= stages <= the model's layers; and when the replica's
// tensor_parallel x pipeline_parallel GPUs exceed a node, whole stages on each node
// (gpus_per_node a multiple of tensor_parallel), so that only stage-to-stage activations cross
// the network. Throws InputError naming model.pipeline_parallel otherwise; `origins` may be
// null. REQUIRES: tensor_parallel already valid (validate_tensor_parallel).
void validate_pipeline_parallel(const ModelSpec& model, int32_t tensor_parallel,
                                int32_t pipeline_parallel, int32_t gpus_per_node,
                                const Config* origins = nullptr);

// The nodes a replica of tp x pp GPUs needs: ceil(tp * pp / gpus_per_node).
int32_t nodes_for_replica(int32_t tensor_parallel, int32_t pipeline_parallel,
                          int32_t gpus_per_node);

}  // namespace kvlab
