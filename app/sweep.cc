#include "app/sweep.h"

#include <cstdlib>

#include "core/config_keys.h"
#include "core/errors.h"
#include "core/metrics.h"

namespace kvlab {

namespace {

std::string axis_label(const SweepAxis& axis, size_t step, const Config& point) {
  if (!axis.labels[step].empty()) return axis.labels[step];
  const KeySchema& schema = config_keys();
  auto value_of = [&](const std::string& key) { return point.get_string(key); };
  std::string out;
  for (size_t k = 0; k < axis.keys.size(); ++k) {
    const std::string& key = axis.keys[k];
    if (!schema.applies(key, value_of)) continue;
    const std::string& value = axis.values[step][k];
    const std::string part =
        schema.is_selector(key) ? value : key.substr(key.find('.') + 1) + "=" + value;
    out += (out.empty() ? "" : ", ") + part;
  }
  // Every key of the axis is meaningless here (none of them picks the entries): say them all.
  if (out.empty()) {
    for (size_t k = 0; k < axis.keys.size(); ++k) {
      out += (out.empty() ? "" : ", ") + axis.keys[k] + "=" + axis.values[step][k];
    }
  }
  return out;
}

}  // namespace

std::string SweepPoint::display_label() const { return join_axis_labels(axis_labels); }

size_t sweep_size(const Config& config) {
  size_t total = 1;
  for (const SweepAxis& axis : config.sweep()) total *= axis.values.size();
  return total;
}

std::vector<SweepPoint> expand_sweep(const Config& config) {
  const std::vector<SweepAxis>& axes = config.sweep();
  const size_t total = sweep_size(config);
  std::vector<SweepPoint> points;
  points.reserve(total);
  for (size_t i = 0; i < total; ++i) {
    SweepPoint p;
    p.index = i;
    p.config = config;
    p.config.clear_sweep();
    // Mixed-radix digits of i, the last axis varying fastest.
    size_t rest = i;
    std::vector<size_t> digit(axes.size());
    for (size_t a = axes.size(); a-- > 0;) {
      digit[a] = rest % axes[a].values.size();
      rest /= axes[a].values.size();
    }
    for (size_t a = 0; a < axes.size(); ++a) {
      const SweepAxis& axis = axes[a];
      const std::vector<std::string>& tuple = axis.values[digit[a]];
      for (size_t k = 0; k < axis.keys.size(); ++k) {
        // A bad value is reported at the [sweep] line that listed it.
        p.config.set(axis.keys[k], tuple[k], axis.origin.origin, axis.origin.line);
        p.label += (p.label.empty() ? "" : ", ") + axis.keys[k] + "=" + tuple[k];
      }
    }
    for (size_t a = 0; a < axes.size(); ++a) {
      p.axes.push_back(axes[a].name());
      p.axis_labels.push_back(axis_label(axes[a], digit[a], p.config));
    }
    points.push_back(std::move(p));
  }
  return points;
}

Shard parse_shard(const std::string& text) {
  const size_t slash = text.find('/');
  char* end = nullptr;
  Shard s;
  if (slash != std::string::npos) {
    const std::string a = text.substr(0, slash), b = text.substr(slash + 1);
    const long i = std::strtol(a.c_str(), &end, 10);
    const bool ok_a = !a.empty() && *end == '\0';
    const long n = std::strtol(b.c_str(), &end, 10);
    const bool ok_b = !b.empty() && *end == '\0';
    if (ok_a && ok_b && n >= 1 && i >= 0 && i < n) {
      s.index = static_cast<size_t>(i);
      s.count = static_cast<size_t>(n);
      return s;
    }
  }
  throw InputError("--shard", 0, "", "'" + text + "' is not I/N with 0 <= I < N");
}

}  // namespace kvlab
