// Wall-clock timestamps as Azure's LLM inference traces write them:
// "YYYY-MM-DD HH:MM:SS.fffffff" (a 'T' may separate date and time; 0 to 7 fraction digits,
// i.e. down to 100 ns). They are parsed into integer 100-ns ticks since 1970-01-01 00:00:00
// of the trace's own clock (no time zone is applied), so that differences between rows keep
// full precision: seconds since 1970 as a double would lose the last fraction digits.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace kvlab {

inline constexpr int64_t kTicksPerSecond = 10'000'000;

// Ticks since 1970-01-01 00:00:00, or nullopt when `text` is not a valid date and time
// (wrong shape, month 13, February 30, hour 24, more than 7 fraction digits, ...).
std::optional<int64_t> parse_wall_clock_ticks(std::string_view text);

// Days from 1970-01-01 to the given proleptic Gregorian date (negative before 1970).
int64_t days_from_civil(int64_t year, int64_t month, int64_t day);

}  // namespace kvlab
