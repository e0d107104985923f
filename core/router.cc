#include "core/router.h"

#include "core/errors.h"

namespace kvlab {

double ReplicaView::kv_load() const {
  const int64_t capacity = kv->capacity_slots();
  if (capacity <= 0) return 1.0;
  return 1.0 - static_cast<double>(kv->free_slots()) / static_cast<double>(capacity);
}

size_t least_outstanding_of(const std::vector<ReplicaView>& replicas,
                            const std::vector<size_t>& candidates) {
  check_invariant(!candidates.empty(), "least_outstanding_of: no candidates");
  size_t best = candidates.front();
  for (size_t i : candidates) {
    if (replicas[i].outstanding < replicas[best].outstanding) best = i;
  }
  return best;
}

}  // namespace kvlab
