#include "core/errors.h"

#include <sstream>

namespace kvlab {

namespace {
std::string format_location(const std::string& file, long line, const std::string& field,
                            const std::string& what) {
  // A stream, not string concatenation: GCC 12 at -O3 warns falsely (-Wrestrict) on the latter.
  std::ostringstream out;
  if (!file.empty()) {
    out << file;
    if (line > 0) out << ':' << line;
    out << ": ";
  } else if (line > 0) {
    out << "line " << line << ": ";
  }
  if (!field.empty()) out << "field '" << field << "': ";
  out << what;
  return out.str();
}
}  // namespace

InputError::InputError(const std::string& file, long line, const std::string& field,
                       const std::string& what)
    : std::runtime_error(format_location(file, line, field, what)) {}

}  // namespace kvlab
