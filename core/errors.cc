#include "core/errors.h"

#include <algorithm>
#include <sstream>
#include <utility>

namespace kvlab {

namespace {

// `text` as a terminal may show it: control bytes escaped (\xNN), and at most `limit` bytes of
// it, the rest counted. A malformed trace line of 50 MB or of binary junk is quoted in a
// message; the message stays a line a user can read. (Bytes >= 0x80 pass: UTF-8 text.)
std::string printable(const std::string& text, size_t limit) {
  std::string out;
  const size_t shown = std::min(text.size(), limit);
  out.reserve(shown + 32);
  for (size_t i = 0; i < shown; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (shown < text.size()) {
    out += "... (" + std::to_string(text.size() - shown) + " more bytes)";
  }
  return out;
}

std::string format_location(const std::string& source, long line, const std::string& field,
                            const std::string& reason) {
  // A stream, not string concatenation: GCC 12 at -O3 warns falsely (-Wrestrict) on the latter.
  std::ostringstream out;
  if (!source.empty()) {
    out << printable(source, InputError::kMaxPartBytes);
    if (line > 0) out << ':' << line;
    out << ": ";
  } else if (line > 0) {
    out << "line " << line << ": ";
  }
  if (!field.empty()) out << "field '" << printable(field, InputError::kMaxPartBytes) << "': ";
  out << printable(reason, InputError::kMaxReasonBytes);
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
