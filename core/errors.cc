#include "core/errors.h"

namespace kvlab {

namespace {
std::string format_location(const std::string& file, long line, const std::string& field,
                            const std::string& what) {
  std::string out;
  if (!file.empty()) {
    out += file;
    if (line > 0) out += ":" + std::to_string(line);
    out += ": ";
  } else if (line > 0) {
    out += "line " + std::to_string(line) + ": ";
  }
  if (!field.empty()) out += "field '" + field + "': ";
  out += what;
  return out;
}
}  // namespace

InputError::InputError(const std::string& file, long line, const std::string& field,
                       const std::string& what)
    : std::runtime_error(format_location(file, line, field, what)) {}

}  // namespace kvlab
