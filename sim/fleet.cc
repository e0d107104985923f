#include "sim/fleet.h"

#include <algorithm>

#include "core/errors.h"
#include "sim/field_error.h"

namespace kvlab {

Fleet::Fleet(const std::vector<const ExperimentConfig*>& replicas, FleetNetwork network)
    : network_(network) {
  std::string node_hardware;
  int32_t used = 0;  // GPUs of the last node taken
  for (const ExperimentConfig* c : replicas) {
    const int32_t gpus = std::max(1, c->tensor_parallel);
    const int32_t per_node = c->hardware.gpus_per_node;
    if (gpus > per_node) {
      fail_field(c->raw, "model.tensor_parallel",
                 "a replica of " + std::to_string(gpus) + " GPUs does not fit a node of " +
                     std::to_string(per_node) + " (hardware.gpus_per_node)");
    }
    const std::string hw = c->hardware.name + "/" + c->hardware.topology + "/" +
                           std::to_string(per_node);
    if (nodes_.empty() || hw != node_hardware || used + gpus > per_node) {
      nodes_.push_back(NodeTopology::build(c->hardware, per_node, c->hardware.topology, &c->raw));
      node_hardware = hw;
      used = 0;
    }
    places_.push_back(Place{static_cast<int32_t>(nodes_.size()) - 1, used, gpus});
    used += gpus;
  }
}

double Fleet::transfer(double ready_s, int64_t bytes, int32_t src, int32_t dst) {
  const Place& from = place(src);
  const Place& to = place(dst);
  const int64_t shard = (bytes + from.num_gpus - 1) / from.num_gpus;
  double done = ready_s;
  for (int32_t k = 0; k < from.num_gpus; ++k) {
    const int32_t a = from.first_gpu + k;
    const int32_t b = to.first_gpu + k % to.num_gpus;
    std::vector<LinkKey> links;
    double gb_s = 0;
    double latency_us = 0;
    if (from.node == to.node) {
      const NodePath& path = nodes_[static_cast<size_t>(from.node)].gpu_path(a, b);
      for (const NodeHop& hop : path.hops) {
        links.emplace_back(from.node, hop.link, hop.from < hop.to ? 0 : 1);
      }
      gb_s = path.bottleneck_gb_s;
      latency_us = path.latency_us;
    } else {
      links.emplace_back(from.node, -1 - a, 0);  // out of the source node
      links.emplace_back(to.node, -1 - b, 1);    // into the destination node
      gb_s = network_.gb_s;
      latency_us = network_.latency_us;
    }
    double start = ready_s;
    for (const LinkKey& l : links) {
      const auto it = busy_until_.find(l);
      if (it != busy_until_.end()) start = std::max(start, it->second);
    }
    const double seconds =
        links.empty() ? 0.0 : static_cast<double>(shard) / (gb_s * 1e9) + latency_us * 1e-6;
    const double end = start + seconds;
    for (const LinkKey& l : links) busy_until_[l] = end;
    done = std::max(done, end);
  }
  return done;
}

}  // namespace kvlab
