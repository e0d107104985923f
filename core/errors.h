// Errors that reach a user. Policy answers (admission, allocation) are values, not
// exceptions; exceptions are kept for bad input and broken invariants.
#pragma once

#include <stdexcept>
#include <string>

namespace kvlab {

// Bad input from a user: a malformed trace row, an unknown policy, an impossible config.
// The message names where it came from (file, line, field) so the user can fix it. The CLI
// prints it and exits non-zero without writing a result file.
class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& message) : std::runtime_error(message) {}
  // "FILE:LINE: field 'FIELD': WHAT" (parts that are empty or zero are left out).
  InputError(const std::string& file, long line, const std::string& field,
             const std::string& what);
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
