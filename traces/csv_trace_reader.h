// CSV trace formats: a header line naming the columns, then one request per line. Columns
// are found by name (order free, unknown columns ignored), records are RFC 4180 (quoted fields
// holding commas, doubled quotes or line breaks, CRLF, a UTF-8 BOM: see csv_records.h), and
// blank lines are skipped. Only the needed fields of a row are kept.
//
// Registered formats:
//   length-csv  num_prefill_tokens, num_decode_tokens; no timestamps (Vidur / etalon length
//               traces such as sharegpt_8k_lengths_llama2.csv).
//   timed-csv   arrived_at (seconds, >= 0), num_prefill_tokens, num_decode_tokens (Vidur's
//               trace_request_generator format).
//   azure-csv   TIMESTAMP (wall clock "YYYY-MM-DD HH:MM:SS.fffffff"), ContextTokens,
//               GeneratedTokens (Azure LLM inference traces 2023/2024). Timestamps become
//               seconds since the earliest row (the first row, in these time-sorted files).
//
// Row rules, all formats: prompt and output lengths are whole numbers in [1, 2^31-1] (a
// request with no prompt cannot be served and RequestSpec requires output_len > 0); a row
// with fewer fields than a needed column's position is "missing"; a row with malformed quoting
// is bad as a whole (named by its column); the first malformed field is reported. A file with
// no header, or a header and no data rows, is an InputError even when skipping bad rows: there
// is nothing to skip to.
#pragma once
