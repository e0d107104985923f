#include "app/never_runs.h"

namespace kvlab {

PointRejections predicted_rejections(const PreparedPoint& point) {
  PointRejections out;
  out.point_index = point.point.index;
  out.label = point.point.display_label();
  out.num_requests = static_cast<size_t>(point.num_requests);
  out.source = point.workload->report.source;
  out.rejected = point.streamed ? predict_rejections(point.config, point.request_pass())
                                : predict_rejections(point.config, point.workload->requests);
  return out;
}

PointRejections recorded_rejections(const RunResult& result) {
  PointRejections out;
  out.point_index = result.point_index;
  out.label = result.display_label();
  out.source = result.workload.source;
  if (result.streamed) {
    out.num_requests = static_cast<size_t>(result.streamed_requests);
    out.rejected = result.streamed_rejections;
    return out;
  }
  out.num_requests = result.requests.size();
  for (const RequestRecord& r : result.requests) {
    if (r.outcome != RequestOutcome::kRejected) continue;
    out.rejected.push_back(NeverRuns{r.id, r.trace_line, r.reject_reason});
  }
  return out;
}

std::string rejection_warning(const PointRejections& p, const std::string& verb) {
  if (p.rejected.empty()) return "";
  std::string line = "warning: point " + std::to_string(p.point_index) +
                     (p.label.empty() ? "" : " (" + p.label + ")") + ": " +
                     std::to_string(p.rejected.size()) + " of " + std::to_string(p.num_requests) +
                     " requests can never run and " + verb + " rejected; first: ";
  for (size_t i = 0; i < p.rejected.size() && i < kReasonsShown; ++i) {
    const NeverRuns& r = p.rejected[i];
    line += (i ? "; " : "") + std::string("request ") + std::to_string(r.id);
    if (r.source_line > 0) line += " (" + p.source + ":" + std::to_string(r.source_line) + ")";
    line += ": " + r.reason;
  }
  if (p.rejected.size() > kReasonsShown) line += "; ...";
  return line;
}

}  // namespace kvlab
