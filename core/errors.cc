#include "core/errors.h"

namespace kvlab {

namespace {
std::string format_location(const std::string& file, long line, const std::string& field,
                            const std::string& what) {
  // Appends piece by piece (GCC 12 -O3 warns falsely on chains of operator+ here).
  std::string out;
  if (!file.empty()) {
    out.append(file);
    if (line > 0) out.append(":").append(std::to_string(line));
    out.append(": ");
  } else if (line > 0) {
    out.append("line ").append(std::to_string(line)).append(": ");
  }
  if (!field.empty()) out.append("field '").append(field).append("': ");
  out.append(what);
  return out;
}
}  // namespace

InputError::InputError(const std::string& file, long line, const std::string& field,
                       const std::string& what)
    : std::runtime_error(format_location(file, line, field, what)) {}

}  // namespace kvlab
