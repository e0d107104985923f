#include "sim/topology.h"

#include <algorithm>
#include <boost/graph/dijkstra_shortest_paths.hpp>
#include <boost/property_map/property_map.hpp>
#include <limits>

#include "core/errors.h"
#include "core/suggest.h"
#include "sim/field_error.h"

namespace kvlab {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

[[noreturn]] void fail(const Config* origins, const std::string& key, const std::string& message) {
  fail_field(origins ? *origins : Config{}, key, message);
}

// Index of a link direction in a per-direction load table.
size_t direction_slot(const NodeHop& hop) {
  return static_cast<size_t>(hop.link) * 2 + (hop.from < hop.to ? 0 : 1);
}

NodePath reversed(const NodePath& path) {
  NodePath out = path;
  std::reverse(out.vertices.begin(), out.vertices.end());
  std::reverse(out.hops.begin(), out.hops.end());
  for (NodeHop& hop : out.hops) std::swap(hop.from, hop.to);
  return out;
}

}  // namespace

const char* to_string(NodeVertexKind kind) {
  switch (kind) {
    case NodeVertexKind::kGpu:
      return "gpu";
    case NodeVertexKind::kPcieSwitch:
      return "pcie-switch";
    case NodeVertexKind::kHost:
      return "host";
    case NodeVertexKind::kNvSwitch:
      return "nvswitch";
  }
  return "?";
}

NodeTopology NodeTopology::build(const HardwareSpec& hw, int32_t gpus_per_node,
                                 const std::string& topology, const Config* origins) {
  if (topology != "nvswitch" && topology != "pcie") {
    fail(origins, "hardware.topology", unknown_name_message("topology", topology, {"nvswitch", "pcie"}));
  }
  if (gpus_per_node < 1 || gpus_per_node > kMaxGpusPerNode) {
    fail(origins, "hardware.gpus_per_node",
         "must be between 1 and " + std::to_string(kMaxGpusPerNode) + ", got " +
             std::to_string(gpus_per_node));
  }
  if (topology == "nvswitch" && !(hw.nvlink_gb_s > 0)) {
    fail(origins, "hardware.topology",
         "nvswitch needs NVLink, and hardware '" + hw.name + "' has none (use pcie)");
  }
  if (!(hw.host_link_gb_s > 0)) {
    fail(origins, "hardware.name", "hardware '" + hw.name + "' has no host link bandwidth");
  }

  NodeTopology node;
  node.kind_ = topology;
  node.num_gpus_ = gpus_per_node;
  NodeGraph& g = node.graph_;
  auto add_link = [&](NodeVertexId a, NodeVertexId b, double gb_s, double latency_us) {
    boost::add_edge(a, b, NodeLink{node.num_links_++, gb_s, latency_us}, g);
  };

  for (int32_t i = 0; i < gpus_per_node; ++i) {
    boost::add_vertex(NodeVertex{NodeVertexKind::kGpu, i}, g);
  }
  const int32_t num_switches = (gpus_per_node + kGpusPerPcieSwitch - 1) / kGpusPerPcieSwitch;
  std::vector<NodeVertexId> switches;
  for (int32_t s = 0; s < num_switches; ++s) {
    switches.push_back(boost::add_vertex(NodeVertex{NodeVertexKind::kPcieSwitch, s}, g));
  }
  node.host_ = boost::add_vertex(NodeVertex{NodeVertexKind::kHost, 0}, g);
  for (int32_t i = 0; i < gpus_per_node; ++i) {
    add_link(node.gpu(i), switches[static_cast<size_t>(i / kGpusPerPcieSwitch)], hw.host_link_gb_s,
             kPcieHopLatencyUs);
  }
  for (NodeVertexId s : switches) add_link(s, node.host_, hw.host_link_gb_s, kPcieHopLatencyUs);
  if (topology == "nvswitch") {
    const NodeVertexId nvswitch = boost::add_vertex(NodeVertex{NodeVertexKind::kNvSwitch, 0}, g);
    for (int32_t i = 0; i < gpus_per_node; ++i) {
      add_link(node.gpu(i), nvswitch, hw.nvlink_gb_s, kNvlinkHopLatencyUs);
    }
  }

  // GPU <-> host routes: one shortest-path tree from the host serves every GPU.
  std::vector<NodeVertexId> predecessors(boost::num_vertices(g));
  std::vector<double> distances(boost::num_vertices(g));
  auto tree_from = [&](NodeVertexId source) {
    boost::dijkstra_shortest_paths(
        g, source,
        boost::predecessor_map(boost::make_iterator_property_map(
                                   predecessors.begin(), boost::get(boost::vertex_index, g)))
            .distance_map(boost::make_iterator_property_map(distances.begin(),
                                                            boost::get(boost::vertex_index, g)))
            .weight_map(boost::get(&NodeLink::latency_us, g)));
  };
  tree_from(node.host_);
  for (int32_t i = 0; i < gpus_per_node; ++i) {
    node.host_paths_.push_back(
        reversed(node.path_from_tree(predecessors, node.host_, node.gpu(i))));
  }
  // GPU -> GPU routes, all pairs: one tree per source GPU (nvswitch), or through the host.
  node.peer_paths_.resize(static_cast<size_t>(gpus_per_node) * gpus_per_node);
  for (int32_t a = 0; a < gpus_per_node; ++a) {
    if (topology == "nvswitch") tree_from(node.gpu(a));
    for (int32_t b = 0; b < gpus_per_node; ++b) {
      NodePath& p = node.peer_paths_[static_cast<size_t>(a) * gpus_per_node + b];
      if (a == b) {
        p = node.path_from_tree(predecessors, node.gpu(a), node.gpu(a));
      } else if (topology == "nvswitch") {
        p = node.path_from_tree(predecessors, node.gpu(a), node.gpu(b));
      } else {
        p = node.concatenate(node.host_paths_[a], reversed(node.host_paths_[b]));
      }
    }
  }
  return node;
}

NodeTopology NodeTopology::for_experiment(const ExperimentConfig& config) {
  NodeTopology node =
      build(config.hardware, config.hardware.gpus_per_node, config.hardware.topology, &config.raw);
  validate_tensor_parallel(config.model, config.tensor_parallel, node.num_gpus(), &config.raw);
  return node;
}

NodeVertexId NodeTopology::gpu(int32_t i) const {
  check_invariant(i >= 0 && i < num_gpus_, "GPU index out of range");
  return static_cast<NodeVertexId>(i);  // GPUs are the first vertices, in order
}

NodePath NodeTopology::path_from_tree(const std::vector<NodeVertexId>& predecessors,
                                      NodeVertexId from, NodeVertexId to) const {
  NodePath path;
  for (NodeVertexId v = to;; v = predecessors[v]) {
    path.vertices.push_back(v);
    if (v == from) break;
    check_invariant(predecessors[v] != v, "node topology is not connected");
  }
  std::reverse(path.vertices.begin(), path.vertices.end());
  path.bottleneck_gb_s = path.vertices.size() > 1 ? kInfinity : 0.0;
  for (size_t k = 1; k < path.vertices.size(); ++k) {
    const NodeVertexId a = path.vertices[k - 1];
    const NodeVertexId b = path.vertices[k];
    const auto [edge, exists] = boost::edge(a, b, graph_);
    check_invariant(exists, "shortest path uses a missing link");
    const NodeLink& link = graph_[edge];
    path.hops.push_back(NodeHop{link.id, a, b});
    path.bottleneck_gb_s = std::min(path.bottleneck_gb_s, link.gb_s);
    path.latency_us += link.latency_us;
  }
  return path;
}

NodePath NodeTopology::concatenate(const NodePath& first, const NodePath& second) const {
  check_invariant(first.vertices.back() == second.vertices.front(), "paths do not meet");
  NodePath out = first;
  out.vertices.insert(out.vertices.end(), second.vertices.begin() + 1, second.vertices.end());
  out.hops.insert(out.hops.end(), second.hops.begin(), second.hops.end());
  if (!second.hops.empty()) {
    out.bottleneck_gb_s = first.hops.empty()
                              ? second.bottleneck_gb_s
                              : std::min(first.bottleneck_gb_s, second.bottleneck_gb_s);
  }
  out.latency_us += second.latency_us;
  return out;
}

NodePath NodeTopology::path(NodeVertexId from, NodeVertexId to) const {
  const size_t n = boost::num_vertices(graph_);
  check_invariant(from < n && to < n, "vertex out of range");
  std::vector<NodeVertexId> predecessors(n);
  std::vector<double> distances(n);
  boost::dijkstra_shortest_paths(
      graph_, from,
      boost::predecessor_map(boost::make_iterator_property_map(
                                 predecessors.begin(), boost::get(boost::vertex_index, graph_)))
          .distance_map(boost::make_iterator_property_map(distances.begin(),
                                                          boost::get(boost::vertex_index, graph_)))
          .weight_map(boost::get(&NodeLink::latency_us, graph_)));
  return path_from_tree(predecessors, from, to);
}

const NodePath& NodeTopology::gpu_path(int32_t a, int32_t b) const {
  gpu(a);
  gpu(b);
  return peer_paths_[static_cast<size_t>(a) * num_gpus_ + b];
}

const NodePath& NodeTopology::host_path(int32_t i) const {
  gpu(i);
  return host_paths_[static_cast<size_t>(i)];
}

std::vector<double> NodeTopology::shared_bandwidths_gb_s(const std::vector<NodePath>& flows) const {
  std::vector<int32_t> load(static_cast<size_t>(num_links_) * 2, 0);
  for (const NodePath& flow : flows) {
    for (const NodeHop& hop : flow.hops) ++load[direction_slot(hop)];
  }
  std::vector<double> out;
  out.reserve(flows.size());
  for (const NodePath& flow : flows) {
    double bw = flow.hops.empty() ? kInfinity : flow.bottleneck_gb_s;
    for (const NodeHop& hop : flow.hops) {
      const auto [edge, exists] = boost::edge(hop.from, hop.to, graph_);
      check_invariant(exists, "flow crosses a missing link");
      bw = std::min(bw, graph_[edge].gb_s / load[direction_slot(hop)]);
    }
    out.push_back(bw);
  }
  return out;
}

double TransferRate::seconds(int64_t bytes) const {
  check_invariant(bytes >= 0, "transfer of negative size");
  if (bytes == 0) return 0.0;
  return static_cast<double>(bytes) / (gb_s * 1e9) + latency_us * 1e-6;
}

double RingAllReduce::seconds(int64_t bytes) const {
  check_invariant(bytes >= 0, "all-reduce of negative size");
  if (num_gpus == 1 || bytes == 0) return 0.0;
  const double steps = 2.0 * (num_gpus - 1);
  return steps / num_gpus * static_cast<double>(bytes) / (bottleneck_gb_s * 1e9) +
         steps * step_latency_us * 1e-6;
}

TransferRate NodeTopology::host_transfer_rate(int32_t gpu_index, int32_t concurrent_gpus) const {
  check_invariant(gpu_index >= 0 && gpu_index < concurrent_gpus && concurrent_gpus <= num_gpus_,
                  "host transfer: GPU not among the concurrent ones");
  const std::vector<NodePath> flows(host_paths_.begin(), host_paths_.begin() + concurrent_gpus);
  return TransferRate{shared_bandwidths_gb_s(flows)[static_cast<size_t>(gpu_index)],
                      host_paths_[static_cast<size_t>(gpu_index)].latency_us};
}

double NodeTopology::host_transfer_seconds(int32_t gpu_index, int64_t bytes,
                                           int32_t concurrent_gpus) const {
  return host_transfer_rate(gpu_index, concurrent_gpus).seconds(bytes);
}

double NodeTopology::parallel_host_transfer_seconds(int64_t bytes, int32_t concurrent_gpus) const {
  double slowest = 0.0;
  for (int32_t i = 0; i < concurrent_gpus; ++i) {
    slowest = std::max(slowest, host_transfer_seconds(i, bytes, concurrent_gpus));
  }
  return slowest;
}

RingAllReduce NodeTopology::ring_allreduce(int32_t p) const {
  check_invariant(p >= 1 && p <= num_gpus_, "all-reduce over more GPUs than the node has");
  RingAllReduce ring;
  ring.num_gpus = p;
  if (p == 1) return ring;
  std::vector<NodePath> flows;
  for (int32_t i = 0; i < p; ++i) flows.push_back(gpu_path(i, (i + 1) % p));
  const std::vector<double> shares = shared_bandwidths_gb_s(flows);
  ring.bottleneck_gb_s = *std::min_element(shares.begin(), shares.end());
  for (const NodePath& flow : flows) {
    ring.step_latency_us = std::max(ring.step_latency_us, flow.latency_us);
  }
  return ring;
}

void validate_tensor_parallel(const ModelSpec& model, int32_t tp, int32_t gpus_per_node,
                              const Config* origins) {
  const std::string key = "model.tensor_parallel";
  if (tp < 1) fail(origins, key, "must be >= 1, got " + std::to_string(tp));
  if (tp > gpus_per_node) {
    fail(origins, key,
         std::to_string(tp) + " exceeds the node's " + std::to_string(gpus_per_node) +
             " GPUs (hardware.gpus_per_node)");
  }
  if (model.num_heads % tp != 0) {
    fail(origins, key,
         std::to_string(tp) + " does not divide " + model.name + "'s " +
             std::to_string(model.num_heads) + " attention heads");
  }
  if (model.num_kv_heads % tp != 0) {
    fail(origins, key,
         std::to_string(tp) + " does not divide " + model.name + "'s " +
             std::to_string(model.num_kv_heads) + " KV heads");
  }
}

}  // namespace kvlab
