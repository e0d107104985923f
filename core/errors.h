// Errors that reach a user. Policy answers (admission, allocation) are values, not
// exceptions; exceptions are kept for bad input and broken invariants.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

namespace kvlab {

// Bad input from a user: a malformed trace row, an unknown policy, an impossible config.
// The error carries where it came from as fields, so that the user can fix it and code can
// add to it without reading the message back:
//   source()  a file name, "--set", a command-line flag ("--jobs") or command ("kvlab merge"),
//             or "" when unknown
//   line()    the 1-based line in source(), or 0 when there is none
//   field()   the config key, trace column or parameter at fault, or ""
//   reason()  what is wrong, in words
// what() is "SOURCE:LINE: field 'FIELD': REASON", with the parts that are empty or zero left
// out ("SOURCE: REASON", "line LINE: REASON", "field 'FIELD': REASON", or just REASON). The
// CLI prints it and exits non-zero without writing a result file.
//
// Copying never throws (the fields are shared, immutable), as an exception's copy must not.
class InputError : public std::runtime_error {
 public:
  // An error with no location: source "", line 0, field "", reason `reason`.
  explicit InputError(const std::string& reason);
  InputError(const std::string& source, long line, const std::string& field,
             const std::string& reason);

  const std::string& source() const { return fields_->source; }
  long line() const { return fields_->line; }
  const std::string& field() const { return fields_->field; }
  const std::string& reason() const { return fields_->reason; }

  // True when the error names a source or a line.
  bool has_location() const { return !source().empty() || line() > 0; }

  // what() is bounded and printable whatever the input quoted in it: control bytes are
  // escaped (\xNN) and the source and field keep at most kMaxPartBytes, the reason at most
  // kMaxReasonBytes, the rest counted. The fields keep the text as given.
  static constexpr size_t kMaxPartBytes = 256;
  static constexpr size_t kMaxReasonBytes = 1024;

  // The same error (field and reason kept) at `source`:`line`, replacing any location it had.
  // For a caller that knows where a value came from, e.g. the file and line of the config key
  // a factory complained about.
  InputError with_location(const std::string& source, long line) const;

 private:
  struct Fields {
    std::string source;
    long line = 0;
    std::string field;
    std::string reason;
  };
  explicit InputError(std::shared_ptr<const Fields> fields);
  std::shared_ptr<const Fields> fields_;
};

// A broken internal invariant (audit() failures, contract violations). Always a bug in kvlab.
class InvariantError : public std::logic_error {
 public:
  explicit InvariantError(const std::string& message) : std::logic_error(message) {}
};

// Throws InvariantError with `message` when `condition` is false. Used by audit() and by
// REQUIRES checks that are cheap enough to keep in release builds.
inline void check_invariant(bool condition, const std::string& message) {
  if (!condition) throw InvariantError(message);
}

// Like check_invariant, but builds the message (message() returns something a std::string
// can be made from) only on failure, so checks on hot paths and in audits cost no formatting.
template <typename MessageFn>
void check_invariant_lazy(bool condition, MessageFn&& message) {
  if (!condition) throw InvariantError(std::string(message()));
}

}  // namespace kvlab
