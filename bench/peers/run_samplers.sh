#!/usr/bin/env bash
# Run the sampler peer benchmarks (mala_t5.py with --impl jax, blackjax and numpy; hmc_t1_blackjax.py)
# at 1 and 2 threads, each process pinned with taskset to CPUs 0..T-1, R timed repeats per process
# (one JSON line each, appended to a file and echoed on stdout), then the median seconds per
# (workload, impl, threads) on stderr.
#
# usage: bench/peers/run_samplers.sh [REPEATS=5] [RESULTS=bench/peers/results_samplers.jsonl]
# env:   PEERS_PY         python with jax, blackjax, arviz and numpy (default /tmp/peers/bin/python)
#        PEERS_THREADS    thread counts to run                        (default "1 2")
#        PEERS_MALA_IMPLS mala_t5.py implementations                  (default "jax blackjax numpy")
#        PEERS_WAIT_IDLE  before each process, wait up to this many seconds for the machine to be
#                         idle (<10% CPU busy over 3 s); 0 = do not wait (default 0)
# A warning goes to stderr when other processes used more than 10% of a CPU during a process.
set -uo pipefail

REPEATS="${1:-5}"
RESULTS="${2:-bench/peers/results_samplers.jsonl}"
PY="${PEERS_PY:-/tmp/peers/bin/python}"
THREADS="${PEERS_THREADS:-1 2}"
MALA_IMPLS="${PEERS_MALA_IMPLS:-jax blackjax numpy}"
WAIT_IDLE="${PEERS_WAIT_IDLE:-0}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

mkdir -p "$(dirname "$RESULTS")"
"$PY" -c 'import sys, warnings; warnings.simplefilter("ignore"); import numpy, jax, blackjax, arviz; print(f"python {sys.version.split()[0]}  numpy {numpy.__version__}  jax {jax.__version__}  blackjax {blackjax.__version__}  arviz {arviz.__version__}")' >&2 \
  || { echo "run_samplers: $PY cannot import numpy, jax, blackjax and arviz" >&2; exit 1; }
echo "run_samplers: repeats=$REPEATS threads=[$THREADS] results -> $RESULTS  ($(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2

cpu_busy_pct() {  # percentage of CPU time busy over the next 3 seconds, from /proc/stat
  local a b total=0 idle i
  read -r -a a < <(grep '^cpu ' /proc/stat); sleep 3; read -r -a b < <(grep '^cpu ' /proc/stat)
  for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
  idle=$((b[4] - a[4] + b[5] - a[5]))
  echo $(( total > 0 ? 100 * (total - idle) / total : 0 ))
}

wait_idle() {
  [[ "$WAIT_IDLE" -gt 0 ]] || return 0
  local start=$SECONDS busy
  while busy="$(cpu_busy_pct)"; [[ "$busy" -ge 10 ]]; do
    if (( SECONDS - start >= WAIT_IDLE )); then
      echo "run_samplers: machine still ${busy}% busy after ${WAIT_IDLE}s, running anyway" >&2; return 0
    fi
  done
}

busy_jiffies() {  # total non-idle CPU time of the machine so far, in clock ticks
  local a total=0 i
  read -r -a a < <(grep '^cpu ' /proc/stat)
  for i in 1 2 3 6 7 8; do total=$((total + a[i])); done
  echo "$total"
}

TIMES_FILE="$(mktemp)"; OUT_FILE="$(mktemp)"; trap 'rm -f "$TIMES_FILE" "$OUT_FILE"' EXIT
children_cpu_ms() {  # sets CHILD_MS: user+sys CPU time of this shell's finished children, in ms
  times > "$TIMES_FILE"  # `times` must run in this shell, not in a $(...) subshell
  CHILD_MS="$(tail -n 1 "$TIMES_FILE" | awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); t += p[1] * 60 + p[2] } printf "%d\n", t * 1000 }')"
}

HZ="$(getconf CLK_TCK)"
failures=0
run() {  # run T SCRIPT ARGS...: one process with --threads T --repeats REPEATS; append its JSON lines
  local t="$1" script="$2"; shift 2
  local cpus c0 j0 w0 wall_ms other_ms
  cpus="$(seq -s, 0 $((t - 1)))"
  wait_idle
  echo "run_samplers: taskset -c $cpus $script --threads $t --repeats $REPEATS $*" >&2
  children_cpu_ms; c0="$CHILD_MS"; j0="$(busy_jiffies)"; w0="${EPOCHREALTIME/./}"
  if ! taskset -c "$cpus" "$PY" "$HERE/$script" --threads "$t" --repeats "$REPEATS" "$@" > "$OUT_FILE"; then
    echo "run_samplers: $script --threads $t $* FAILED" >&2
    failures=$((failures + 1))
    return
  fi
  wall_ms=$(( (${EPOCHREALTIME/./} - w0) / 1000 ))
  other_ms=$(( ($(busy_jiffies) - j0) * 1000 / HZ ))
  children_cpu_ms; other_ms=$(( other_ms - (CHILD_MS - c0) ))
  if (( other_ms * 10 > wall_ms )); then
    echo "run_samplers: WARNING other processes used ${other_ms} ms of CPU during this ${wall_ms} ms process; its timings are probably disturbed" >&2
  fi
  grep '^{' "$OUT_FILE" | tee -a "$RESULTS"
}

for t in $THREADS; do
  for impl in $MALA_IMPLS; do
    run "$t" mala_t5.py --impl "$impl"
  done
  run "$t" hmc_t1_blackjax.py
done

# Median seconds over the last REPEATS lines of each (workload, impl, threads) in RESULTS.
"$PY" - "$RESULTS" "$REPEATS" >&2 <<'EOF'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    if line.startswith("{"):
        d = json.loads(line)
        if d.get("workload") in ("mala_t5", "hmc_t1"):
            rows.setdefault((d["workload"], d["impl"], d["threads"]), []).append(d["seconds"])
for (w, i, t), s in sorted(rows.items()):
    s = s[-int(sys.argv[2]):]
    print(f"run_samplers: median {w:8s} {i:9s} T={t}: {statistics.median(s):.4f} s  (of {len(s)}: {', '.join(f'{x:.3f}' for x in s)})")
EOF

echo "run_samplers: done, $failures failure(s); load now: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exit $((failures > 0))
