#!/usr/bin/env bash
# One GPU session in few commands: runs the staged bundle (scripts/gpu_bundle.sh, in .gpu/) on a
# machine with an NVIDIA GPU and collects everything a report needs.
#
#   scripts/gpu_session.sh STEP...      steps, in the order given:
#     info      nvidia-smi, driver, device properties, the bundle's provenance
#     tests     every gpu_*_test but the long one (differential tests vs the CPU reference,
#               the device model, the cuda back end against the cpu one)
#     sanitize  compute-sanitizer memcheck on the op, attention and quantized-KV tests, racecheck and
#               synccheck on the attention tests
#     bench     bench_gpu_kernels (decode attention paged vs contiguous, GEMMs) -> JSON, and
#               scripts/gpu_kernel_report.py -> markdown table and CSV; bench_gpu_vmm (the
#               driver's cuMemMap + cuMemSetAccess / cuMemUnmap latency per page size, what
#               backend.vmm_map_us / vmm_unmap_us would take from this GPU) -> JSON and text
#     e2e       kvlab run on experiments/gpu/*.ini (llama-2-7b, cuda back end, paged vs
#               contiguous) -> HDF5, summary JSON, kvlab report; then the same INI on the
#               simulator with the KV capacity the device run had (NAME.sim.h5), to compare;
#               KVLAB_E2E=NAME runs experiments/gpu/NAME.ini alone
#     large     the long test (llama-2-7b through the cuda back end; ~75 GB free memory)
#     all       info tests sanitize bench e2e large
#
# Output: $OUT (the device tool's folder) or out/gpu-session: summary.md (a line per step, the
# kernel table), session.log, and results.tar.gz holding every log, gtest JSON, benchmark JSON,
# HDF5 and report (small enough for docs/results/gpu/). A step's time limit is
# KVLAB_STEP_TIMEOUT seconds (default 540), so one call stays inside a 10-minute command limit:
# split the steps over calls (`info tests sanitize`, then `bench`, then `e2e`).
#
# The binaries remember the source folder they were built from (tests read experiments/ by
# absolute path, kvlab report its script); this script links that path to the copy it runs in
# when it does not exist here (it needs to be able to create it: root on the lent machines).
set -uo pipefail
# shellcheck disable=SC2317  # the step_* functions are called by name

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 1
out="${OUT:-$root/out/gpu-session}"
work="$root/out/gpu-session-work"
step_timeout="${KVLAB_STEP_TIMEOUT:-540}"
mkdir -p "$out" "$work"
log="$out/session.log"
summary="$out/summary.md"
exec > >(tee -a "$log") 2>&1

die() { echo "gpu_session: $*" >&2; exit 1; }
[ $# -gt 0 ] || die "name the steps to run (info tests sanitize bench e2e large, or all)"
if [ ! -f .gpu/bundle.env ] && [ -f .gpu.tar.xz ]; then
  xz -dc .gpu.tar.xz | tar -xf - || die "cannot unpack .gpu.tar.xz"
fi
[ -f .gpu/bundle.env ] || die "no .gpu/bundle.env: run scripts/gpu_bundle.sh on a build machine and carry .gpu.tar.xz"
# shellcheck disable=SC1091
source .gpu/bundle.env

# The build machine's source folder, as the binaries know it (tests read shipped experiments,
# kvlab report its script).
link_path() {
  local want="$1" target="$2"
  if [ -e "$want" ]; then
    [ "$want" -ef "$target" ] || die "$want exists here and is not $target: run from a copy there, or move it"
    return
  fi
  if ! { mkdir -p "$(dirname "$want")" && ln -s "$target" "$want"; }; then
    die "cannot create $want (needs root?)"
  fi
}
link_path "$KVLAB_BUNDLE_SOURCE_DIR" "$root"

# Libraries: the bundle's, then the CUDA toolkit's (cuBLAS is loaded from there at run time).
libs="$root/.gpu/lib"
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -d "$d" ] && libs="$libs:$d"
done
py_cublas="$(python3 -c 'import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], "lib"))' 2>/dev/null || true)"
[ -n "$py_cublas" ] && [ -d "$py_cublas" ] && libs="$libs:$py_cublas"
export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
bin="$root/.gpu/build/bin"
tests_dir="$root/.gpu/build/tests/gpu"
export KVLAB_PYTHON="${KVLAB_PYTHON:-$(command -v python3)}"

declare -a results=()
record() { results+=("| $1 | $2 | $3 |"); }  # step, status, detail

run_step() {  # name, command...: runs under the step time limit, records pass/fail
  local name="$1"; shift
  local start=$SECONDS
  echo "=== $name: $*"
  timeout --signal=TERM --kill-after=20 "$step_timeout" "$@"
  local rc=$?
  local secs=$((SECONDS - start))
  if [ $rc -eq 0 ]; then record "$name" pass "${secs} s"
  elif [ $rc -eq 124 ]; then record "$name" "TIMEOUT" "after ${secs} s"
  else record "$name" "FAIL (rc $rc)" "${secs} s"
  fi
  return $rc
}

step_info() {
  mkdir -p "$work/info"
  { nvidia-smi || echo "nvidia-smi failed"; } | tee "$work/info/nvidia-smi.txt"
  nvidia-smi --query-gpu=name,driver_version,memory.total,memory.free,clocks.max.sm,clocks.max.mem \
    --format=csv | tee "$work/info/gpu.csv"
  cp .gpu/bundle.env "$work/info/bundle.env"
  { echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"; uname -a; nproc; free -g | head -2
    ldd "$bin/kvlab" | grep "not found" && echo "MISSING LIBRARIES"; } | tee "$work/info/host.txt"
  local gpu; gpu="$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)"
  if [ -z "$gpu" ]; then record info "FAIL" "no GPU visible to nvidia-smi"; return 1; fi
  record info pass "$gpu"
}

step_tests() {
  mkdir -p "$work/tests"
  local t status=0
  for t in "$tests_dir"/gpu_*_test; do
    local name; name="$(basename "$t")"
    [ "$name" = gpu_large_model_test ] && continue
    run_step "test $name" "$t" --gtest_output="json:$work/tests/$name.json" \
      >"$work/tests/$name.log" 2>&1 || status=1
    tail -3 "$work/tests/$name.log"
  done
  python3 - "$work/tests" <<'EOF' | tee "$work/tests/counts.txt"
import json, pathlib, sys
total = {"passed": 0, "failed": 0, "skipped": 0}
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for suite in json.load(open(f)).get("testsuites", []):
        for case in suite.get("testsuite", []):
            if case.get("failures"):
                counts["failed"] += 1
            elif case.get("result") == "SKIPPED":
                counts["skipped"] += 1
            else:
                counts["passed"] += 1
    for k in total:
        total[k] += counts[k]
    print(f"{f.stem}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
print(f"all: {total['passed']} passed, {total['failed']} failed, {total['skipped']} skipped")
EOF
  return $status
}

step_sanitize() {
  command -v compute-sanitizer >/dev/null || [ -x /usr/local/cuda/bin/compute-sanitizer ] ||
    { record sanitize "SKIP" "no compute-sanitizer"; return 0; }
  local cs; cs="$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)"
  mkdir -p "$work/sanitize"
  local status=0
  run_step "memcheck ops" "$cs" --tool memcheck --error-exitcode 3 --leak-check full \
    "$tests_dir/gpu_ops_test" >"$work/sanitize/memcheck_ops.log" 2>&1 || status=1
  run_step "memcheck attention" "$cs" --tool memcheck --error-exitcode 3 \
    "$tests_dir/gpu_attention_test" >"$work/sanitize/memcheck_attention.log" 2>&1 || status=1
  run_step "memcheck kv_quant" "$cs" --tool memcheck --error-exitcode 3 \
    "$tests_dir/gpu_kv_quant_test" >"$work/sanitize/memcheck_kv_quant.log" 2>&1 || status=1
  run_step "memcheck model" "$cs" --tool memcheck --error-exitcode 3 \
    "$tests_dir/gpu_model_test" >"$work/sanitize/memcheck_model.log" 2>&1 || status=1
  run_step "racecheck attention" "$cs" --tool racecheck --racecheck-report all --error-exitcode 3 \
    "$tests_dir/gpu_attention_test" >"$work/sanitize/racecheck_attention.log" 2>&1 || status=1
  run_step "synccheck attention" "$cs" --tool synccheck --error-exitcode 3 \
    "$tests_dir/gpu_attention_test" >"$work/sanitize/synccheck_attention.log" 2>&1 || status=1
  grep -h "ERROR SUMMARY\|RACECHECK SUMMARY" "$work"/sanitize/*.log
  return $status
}

step_bench() {
  mkdir -p "$work/bench"
  run_step bench "$bin/bench_gpu_kernels" --benchmark_out="$work/bench/gpu_kernels.json" \
    --benchmark_out_format=json >"$work/bench/gpu_kernels.txt" 2>&1
  local rc=$?
  [ -s "$work/bench/gpu_kernels.json" ] &&
    python3 scripts/gpu_kernel_report.py "$work/bench/gpu_kernels.json" \
      --markdown "$work/bench/gpu_kernels.md" --csv "$work/bench/gpu_kernels.csv"
  # Map / unmap latency per page size (refused sizes are listed on stderr and in the context).
  run_step "bench vmm" "$bin/bench_gpu_vmm" --benchmark_out="$work/bench/gpu_vmm.json" \
    --benchmark_out_format=json >"$work/bench/gpu_vmm.txt" 2>&1 || rc=1
  cat "$work/bench/gpu_vmm.txt"
  return $rc
}

step_e2e() {
  mkdir -p "$work/e2e"
  local ini status=0
  for ini in experiments/gpu/${KVLAB_E2E:-*}.ini; do
    [ -f "$ini" ] || { record e2e "FAIL" "no experiments/gpu/${KVLAB_E2E:-*}.ini"; status=1; continue; }
    local s; s="$(basename "$ini" .ini)"
    run_step "e2e $s" "$bin/kvlab" run "$ini" --out "$work/e2e/$s.h5" \
      --summary-json "$work/e2e/$s.json" >"$work/e2e/$s.log" 2>&1 || status=1
    tail -12 "$work/e2e/$s.log"
    # The same workload in the simulator, with the KV capacity the device run had, for the
    # sim-vs-real comparison (same points, same labels).
    local slots
    slots="$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))[0]["kv_capacity_slots"]))' \
      "$work/e2e/$s.json" 2>/dev/null || true)"
    if [ -n "$slots" ]; then
      run_step "sim $s" "$bin/kvlab" run "$ini" --set backend.kind=sim \
        --set memory.capacity_slots="$slots" --out "$work/e2e/$s.sim.h5" \
        --summary-json "$work/e2e/$s.sim.json" >"$work/e2e/$s.sim.log" 2>&1 || status=1
    fi
    if [ -s "$work/e2e/$s.h5" ]; then
      "$bin/kvlab" report "$work/e2e/$s.h5" --out "$work/e2e/report_$s" --title "$s (cuda)" \
        >>"$work/e2e/$s.log" 2>&1 || echo "kvlab report failed for $s (see $s.log)"
    fi
  done
  return $status
}

step_large() {
  mkdir -p "$work/tests"
  run_step "test gpu_large_model_test" "$tests_dir/gpu_large_model_test" \
    --gtest_output="json:$work/tests/gpu_large_model_test.json" \
    >"$work/tests/gpu_large_model_test.log" 2>&1
  tail -5 "$work/tests/gpu_large_model_test.log"
}

steps=()
for s in "$@"; do
  case "$s" in
    all) steps+=(info tests sanitize bench e2e large) ;;
    info|tests|sanitize|bench|e2e|large) steps+=("$s") ;;
    *) die "unknown step '$s' (info tests sanitize bench e2e large all)" ;;
  esac
done
overall=0
for s in "${steps[@]}"; do
  "step_$s" || overall=1
done

{
  echo "# GPU session $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "Device: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"
  echo "Bundle: commit $KVLAB_BUNDLE_COMMIT, sm_$KVLAB_BUNDLE_CUDA_ARCHITECTURES, $KVLAB_BUNDLE_NVCC"
  echo
  echo "| step | status | detail |"
  echo "|---|---|---|"
  printf '%s\n' "${results[@]}"
  [ -f "$work/tests/counts.txt" ] && { echo; echo '```'; cat "$work/tests/counts.txt"; echo '```'; }
  [ -f "$work/bench/gpu_kernels.md" ] && { echo; cat "$work/bench/gpu_kernels.md"; }
} >"$summary"
tar -czf "$out/results.tar.gz" -C "$work" .
cat "$summary"
exit $overall
