#include "core/errors.h"

#include <sstream>
#include <utility>

namespace kvlab {

namespace {
std::string format_location(const std::string& source, long line, const std::string& field,
                            const std::string& reason) {
  // A stream, not string concatenation: GCC 12 at -O3 warns falsely (-Wrestrict) on the latter.
  std::ostringstream out;
  if (!source.empty()) {
    out << source;
    if (line > 0) out << ':' << line;
    out << ": ";
  } else if (line > 0) {
    out << "line " << line << ": ";
  }
  if (!field.empty()) out << "field '" << field << "': ";
  out << reason;
  return out.str();
}
}  // namespace

InputError::InputError(std::shared_ptr<const Fields> fields)
    : std::runtime_error(
          format_location(fields->source, fields->line, fields->field, fields->reason)),
      fields_(std::move(fields)) {}

InputError::InputError(const std::string& reason)
    : InputError(std::make_shared<const Fields>(Fields{"", 0, "", reason})) {}

InputError::InputError(const std::string& source, long line, const std::string& field,
                       const std::string& reason)
    : InputError(std::make_shared<const Fields>(Fields{source, line, field, reason})) {}

InputError InputError::with_location(const std::string& source, long line) const {
  return InputError(std::make_shared<const Fields>(Fields{source, line, field(), reason()}));
}

}  // namespace kvlab
