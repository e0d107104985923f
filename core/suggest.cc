#include "core/suggest.h"

#include <algorithm>

namespace kvlab {

size_t edit_distance(const std::string& a, const std::string& b) {
  // d[i][j]: distance between a's first i and b's first j characters, kept as three rows.
  const size_t n = b.size();
  std::vector<size_t> before(n + 1), previous(n + 1), current(n + 1);
  for (size_t j = 0; j <= n; ++j) previous[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (size_t j = 1; j <= n; ++j) {
      const size_t substitute = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitute});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        current[j] = std::min(current[j], before[j - 2] + 1);
      }
    }
    std::swap(before, previous);
    std::swap(previous, current);
  }
  return previous[n];
}

std::string did_you_mean(const std::string& name, const std::vector<std::string>& known) {
  const size_t threshold = std::max<size_t>(1, name.size() / 3);
  std::string best;
  size_t best_distance = threshold + 1;
  for (const std::string& candidate : known) {
    const size_t d = edit_distance(name, candidate);
    if (d < best_distance || (d == best_distance && candidate < best)) {
      best = candidate;
      best_distance = d;
    }
  }
  return best;
}

std::string unknown_name_message(const std::string& what, const std::string& name,
                                 const std::vector<std::string>& known) {
  std::string message = "unknown " + what + " '" + name + "' (";
  const std::string close = did_you_mean(name, known);
  if (!close.empty()) message += "did you mean '" + close + "'?; ";
  message += "known: ";
  for (size_t i = 0; i < known.size(); ++i) message += (i ? ", " : "") + known[i];
  return message + ")";
}

}  // namespace kvlab
