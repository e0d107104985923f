#!/bin/bash
# The fidelity matrix of docs/reproduction.md § Fidelity: kvlab fidelity on the cpu back end over
# two traces (cpu_tiny.ini's synthetic burst, the shipped ShareGPT sample cut to 256 tokens) x
# {paged, contiguous oracle} x {preemption (1,024 slots), none (16,384)}.
#   scripts/fidelity_matrix.sh [PROFILE.json]   (default: profiles/cpu_tiny_llama.json)
cd "$(dirname "$0")/.."
K=build/default/bin/kvlab
P=${1:-profiles/cpu_tiny_llama.json}
SG="--set workload.trace=../traces/data/sharegpt_lengths_sample.csv --set workload.max_total_len=256 --set workload.num_requests=48"
for trace in ${TRACES:-synthetic sharegpt}; do
  T=""; [ $trace = sharegpt ] && T="$SG"
  for mem in paged contiguous; do
    M="--set memory.policy=$mem"; [ $mem = contiguous ] && M="$M --set memory.reservation=oracle"
    for pre in preempt none; do
      C=""; [ $pre = none ] && C="--set memory.capacity_slots=16384"
      echo "== $trace $mem $pre"
      $K fidelity experiments/cpu_tiny.ini --profile $P $T $M $C --out ${OUT:-/tmp}/fidelity_${trace}_${mem}_${pre}.json 2>&1 | grep -E "per-step|real runs:|throughput|TTFT p50|TPOT p50|preemptions|memory|targets"
    done
  done
done
