#include "kernels/model/kv_dtype_rule.h"

#include <algorithm>

namespace kvlab {

void require_kv_dtype(const ExperimentConfig& config, const std::string& backend,
                      const std::vector<KvDtype>& stored, const std::string& what) {
  if (std::find(stored.begin(), stored.end(), config.model.kv_dtype) != stored.end()) return;
  std::string names;
  for (KvDtype d : stored) names += (names.empty() ? "" : ", ") + kv_dtype_name(d);
  config.raw.fail("memory.kv_dtype", "the " + backend + " back end stores " + what +
                                         " and does not implement kv_dtype " +
                                         kv_dtype_name(config.model.kv_dtype) + "; set one of " +
                                         names);
}

}  // namespace kvlab
