#!/usr/bin/env bash
# Recreates the shipped trace samples in this folder from the full traces in shared/traces.
#   usage: traces/data/make_samples.sh [SOURCE_DIR]   (default: <repo>/../shared/traces)
# Deterministic: running it again gives byte-identical files.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source_dir="${1:-${here}/../../../shared/traces}"
rows=4000

# azure_conv_sample.csv: the header and the first 4,000 rows (about 13.6 minutes of arrivals),
# so the sample keeps the trace's real inter-arrival times.
head -n $((rows + 1)) "${source_dir}/azure_llm_2023_conv.csv" > "${here}/azure_conv_sample.csv"

# sharegpt_lengths_sample.csv: the header and a systematic sample of 4,000 rows: data row
# floor(i * N / 4000) + 1 for i = 0..3999 (N data rows), i.e. every ~7.7th row across the
# whole file, so the length distribution matches the full trace rather than its beginning.
awk -v rows="${rows}" '
  NR == 1 { header = $0; next }
  { line[NR - 1] = $0 }
  END {
    n = NR - 1
    if (n < rows) { print "source has only " n " data rows" > "/dev/stderr"; exit 1 }
    print header
    for (i = 0; i < rows; i++) print line[int(i * n / rows) + 1]
  }' "${source_dir}/sharegpt_8k_lengths_llama2.csv" > "${here}/sharegpt_lengths_sample.csv"

# mooncake_conv_sample.jsonl: the first 1,000 lines (requests) of Mooncake's conversation trace
# (its first 330 s of arrivals), unmodified, so the requests that share prefixes with each other
# stay together.
head -n 1000 "${source_dir}/mooncake_conversation.jsonl" > "${here}/mooncake_conv_sample.jsonl"

wc -lc "${here}/azure_conv_sample.csv" "${here}/sharegpt_lengths_sample.csv" \
  "${here}/mooncake_conv_sample.jsonl"
