#!/usr/bin/env bash
# docs/cluster.md's Slurm example against a real Slurm (ctest label `cluster`).
#
#   tests/cluster/slurm_test.sh KVLAB_BINARY REPO_ROOT PYTHON
#
# Starts a single-node Slurm from Debian's packages (munge, slurmctld, slurmd), configured
# entirely in a temporary directory: its own munge key and socket, slurm.conf (SLURM_CONF),
# state, spool, log and pid files, ports picked free. Then, in a work directory laid out like
# the repository (build/default/bin/kvlab, experiments/, traces/), it writes the job script of
# docs/cluster.md's first code block to sweep.sbatch and runs the second code block (the array
# job and the dependent merge), both taken from the docs as they are. The only changes are the
# three #SBATCH lines the docs say to adapt to the cluster (--array, --cpus-per-task, --time)
# and the study's size (workload.num_requests, so the test takes seconds). It waits for both
# jobs with a timeout and checks that the merged file equals the file one `kvlab run` of the
# same experiment writes (tests/cluster/compare_h5.py: every dataset and attribute, wall_s
# aside).
#
# Exits 77 (ctest SKIP_RETURN_CODE) when munge or Slurm is not installed or the daemons cannot
# start (e.g. not root); every daemon it started is stopped on exit, whatever happens.
# Install them with: scripts/bootstrap.sh --cluster
set -euo pipefail

SKIP=77
kvlab=$(realpath "$1")
root=$(realpath "$2")
python=${3:-python3}
shards=4              # array tasks (the docs' --array=0-15 on a 2-core machine)
requests=40           # workload.num_requests per point (the docs run the full study)
timeout_s=${KVLAB_SLURM_TIMEOUT:-200}   # for the jobs; ctest's TIMEOUT is 300
# Every daemon runs under `timeout`, so none outlives the test even if this script is killed
# with SIGKILL (which skips the trap below).
daemon_s=$((timeout_s + 90))

skip() { echo "SKIP: $*"; exit $SKIP; }
export PATH=$PATH:/usr/sbin:/sbin
for tool in munged munge unmunge slurmctld slurmd sbatch squeue sinfo scontrol scancel; do
  command -v "$tool" >/dev/null 2>&1 ||
    skip "$tool is not installed (scripts/bootstrap.sh --cluster installs munge and Slurm)"
done
[ "$(id -u)" -eq 0 ] || skip "a single-node Slurm with SlurmUser=root needs root"

# Under /tmp, not the build tree: munge and slurmd sockets need short paths (108 bytes).
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvlab-slurm.XXXXXX")
pids=()
cleanup() {
  local rc=$?
  set +e
  if [ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_CONF" ]; then
    timeout 10 scancel --quiet --user=root >/dev/null 2>&1
  fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  done
  if [ $rc -ne 0 ] && [ $rc -ne $SKIP ]; then
    for log in "$tmp"/log/*.log "$tmp"/work/slurm-*.out; do
      [ -s "$log" ] && { echo "--- $log (last 30 lines)"; tail -n 30 "$log"; }
    done
  fi
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$tmp"/{munge,state,spool,log,run,work}
chmod 700 "$tmp/munge"

# A free TCP port (bound then released; the daemons get it a moment later).
free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])'; }

# munge: its own key, socket, pid and log in the temporary directory.
dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$tmp/munge/munge.key"
socket="$tmp/munge/munge.sock"
timeout "$daemon_s" munged --foreground --force --socket="$socket" --key-file="$tmp/munge/munge.key" \
  --pid-file="$tmp/run/munged.pid" --log-file="$tmp/log/munged.log" \
  --seed-file="$tmp/munge/munge.seed" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "$socket" ] && break; sleep 0.1; done
[ -S "$socket" ] || skip "munged did not start ($(tail -n 3 "$tmp/log/munged.log" 2>/dev/null))"
timeout 10 munge --socket="$socket" -n | timeout 10 unmunge --socket="$socket" >/dev/null ||
  skip "munge does not authenticate with its own key"

host=$(hostname -s)
cpus=$(nproc)
export SLURM_CONF="$tmp/slurm.conf"
# Both daemons on 127.0.0.1, so the test does not depend on the host name resolving.
cat >"$SLURM_CONF" <<EOF
ClusterName=kvlabtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool/slurmd.%n
SlurmctldPidFile=$tmp/run/slurmctld.pid
SlurmdPidFile=$tmp/run/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
MpiDefault=none
ReturnToService=2
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

timeout "$daemon_s" slurmctld -D -i -f "$SLURM_CONF" >>"$tmp/log/slurmctld.out" 2>&1 &
pids+=($!)
timeout "$daemon_s" slurmd -D -f "$SLURM_CONF" -N "$host" >>"$tmp/log/slurmd.out" 2>&1 &
pids+=($!)

# The node is up when sinfo reports it idle (the daemons may fail in a container: skip).
up=""
for _ in $(seq 100); do
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || skip "a Slurm daemon exited at start ($(tail -n 3 "$tmp"/log/slurm*.log "$tmp"/log/*.out 2>/dev/null | tr '\n' ' '))"
  done
  state=$(timeout 5 sinfo -h -N -n "$host" -o %t 2>/dev/null || true)
  if [ "$state" = "idle" ]; then up=1; break; fi
  sleep 0.2
done
[ -n "$up" ] || skip "the Slurm node did not come up in 20 s (state '${state:-none}')"
echo "slurm: node $host with $cpus CPUs up (SLURM_CONF=$SLURM_CONF)"

# The work directory, laid out like the repository; the study at a reduced size.
work="$tmp/work"
mkdir -p "$work/build/default/bin" "$work/experiments"
ln -s "$kvlab" "$work/build/default/bin/kvlab"
ln -s "$root/traces" "$work/traces"
study=latency_vs_rate_sharegpt
sed "s/^\[workload\]$/[workload]\nnum_requests = $requests/" \
  "$root/experiments/$study.ini" >"$work/experiments/$study.ini"

# docs/cluster.md's two sh code blocks: the job script and the submission.
"$python" - "$root/docs/cluster.md" "$work" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
assert len(blocks) >= 2, f"{sys.argv[1]}: expected the job script and the submission as sh blocks"
open(f"{sys.argv[2]}/sweep.sbatch", "w").write(blocks[0])
open(f"{sys.argv[2]}/submit.sh", "w").write(blocks[1])
EOF
grep -q '^#SBATCH --array=' "$work/sweep.sbatch" && grep -q '^#SBATCH --cpus-per-task=' "$work/sweep.sbatch" ||
  { echo "docs/cluster.md: the job script lost its --array or --cpus-per-task line"; exit 1; }
sed -i -e "s/^#SBATCH --array=.*/#SBATCH --array=0-$((shards - 1))/" \
       -e "s/^#SBATCH --cpus-per-task=.*/#SBATCH --cpus-per-task=$cpus/" \
       -e "s/^#SBATCH --time=.*/#SBATCH --time=00:10:00/" "$work/sweep.sbatch"

start=$(date +%s)
(cd "$work" && timeout 30 bash -euo pipefail submit.sh) | tee "$tmp/submit.out"
echo "slurm: waiting for the array job and the merge"

# Wait until no job is pending or running, then check that every one of them completed.
while [ -n "$(timeout 10 squeue -h -o %i 2>/dev/null)" ]; do
  if [ $(( $(date +%s) - start )) -gt "$timeout_s" ]; then
    echo "slurm: jobs still queued after ${timeout_s}s:"; timeout 10 squeue
    exit 1
  fi
  sleep 1
done
echo "slurm: all jobs done in $(( $(date +%s) - start ))s"
states=$(timeout 10 scontrol -o show job | sed -E 's/^JobId=([0-9]+) .* JobState=([A-Z_]+) .*/JobId=\1 JobState=\2/')
echo "$states"
n_done=$(grep -c 'JobState=COMPLETED' <<<"$states" || true)
if grep -v 'JobState=COMPLETED' <<<"$states" | grep -q .; then
  echo "slurm: a job did not complete"; exit 1
fi
[ "$n_done" -eq $((shards + 1)) ] || { echo "slurm: $n_done jobs completed, expected $((shards + 1))"; exit 1; }
[ -f "$work/out/rate.h5" ] || { echo "slurm: the merge wrote no out/rate.h5"; exit 1; }
ls "$work/out/shards"

# The same experiment in one run, and the two files compared.
(cd "$work" && timeout 60 "$kvlab" run "experiments/$study.ini" --jobs "$cpus" --out single.h5 --quiet)
"$python" "$root/tests/cluster/compare_h5.py" "$work/single.h5" "$work/out/rate.h5"
echo "slurm: docs/cluster.md's array job + merge equals one kvlab run ($shards shards)"
