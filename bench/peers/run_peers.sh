#!/usr/bin/env bash
# Run the peer benchmarks (VAE and Langevin in PyTorch and JAX, AIS in JAX) at 1 and 2 threads,
# each process pinned with taskset to CPUs 0..T-1, and append their JSON lines to a file.
#
# usage: bench/peers/run_peers.sh [EPOCHS=3] [RESULTS=bench/peers/results.jsonl]
# env:   PEERS_PY      python with torch, jax and numpy  (default /tmp/peers/bin/python)
#        PEERS_THREADS thread counts to run             (default "1 2")
#        MNIST_DIR     MNIST IDX directory              (default /work/shared/data/mnist)
#        PEERS_WAIT_IDLE  before each run, wait up to this many seconds for the machine to be
#                      idle (<10% CPU busy over 3 s); 0 = do not wait (default 0)
#        PEERS_RETRIES  when other processes used more than 10% of a CPU during a run, run it
#                      again up to this many times and keep the least disturbed attempt (default 0)
# Each run's own stderr (per-epoch losses, timings) is shown; stdout is its JSON line.
set -uo pipefail

EPOCHS="${1:-3}"
RESULTS="${2:-bench/peers/results.jsonl}"
PY="${PEERS_PY:-/tmp/peers/bin/python}"
THREADS="${PEERS_THREADS:-1 2}"
MNIST_DIR="${MNIST_DIR:-/work/shared/data/mnist}"
WAIT_IDLE="${PEERS_WAIT_IDLE:-0}"
RETRIES="${PEERS_RETRIES:-0}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

mkdir -p "$(dirname "$RESULTS")"
"$PY" -c 'import sys, numpy, torch, jax; print(f"python {sys.version.split()[0]}  numpy {numpy.__version__}  torch {torch.__version__}  jax {jax.__version__}")' >&2 \
  || { echo "run_peers: $PY cannot import numpy, torch and jax" >&2; exit 1; }
echo "run_peers: epochs=$EPOCHS threads=[$THREADS] results -> $RESULTS  ($(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2

cpu_busy_pct() {  # percentage of CPU time busy over the next 3 seconds, from /proc/stat
  local a b
  read -r -a a < <(grep '^cpu ' /proc/stat); sleep 3; read -r -a b < <(grep '^cpu ' /proc/stat)
  local total=0 idle i
  for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
  idle=$((b[4] - a[4] + b[5] - a[5]))
  echo $(( total > 0 ? 100 * (total - idle) / total : 0 ))
}

wait_idle() {
  [[ "$WAIT_IDLE" -gt 0 ]] || return 0
  local start=$SECONDS busy
  while busy="$(cpu_busy_pct)"; [[ "$busy" -ge 10 ]]; do
    if (( SECONDS - start >= WAIT_IDLE )); then
      echo "run_peers: machine still ${busy}% busy after ${WAIT_IDLE}s, running anyway" >&2; return 0
    fi
  done
}

busy_jiffies() {  # total non-idle CPU time of the machine so far, in clock ticks
  local a total=0 i
  read -r -a a < <(grep '^cpu ' /proc/stat)
  for i in 1 2 3 6 7 8; do total=$((total + a[i])); done
  echo "$total"
}

TIMES_FILE="$(mktemp)"; trap 'rm -f "$TIMES_FILE"' EXIT
children_cpu_ms() {  # sets CHILD_MS: user+sys CPU time of this shell's finished children, in ms
  times > "$TIMES_FILE"  # `times` must run in this shell, not in a $(...) subshell
  CHILD_MS="$(tail -n 1 "$TIMES_FILE" | awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); t += p[1] * 60 + p[2] } printf "%d\n", t * 1000 }')"
}

HZ="$(getconf CLK_TCK)"
failures=0
contended=0
attempt() {  # attempt T SCRIPT ARGS...: one run; sets LINE (its JSON line or empty) and OTHER_MS
  local t="$1" script="$2"; shift 2
  local cpus c0 j0 w0 wall_ms
  cpus="$(seq -s, 0 $((t - 1)))"
  wait_idle
  echo "run_peers: taskset -c $cpus $script --threads $t $*" >&2
  children_cpu_ms; c0="$CHILD_MS"; j0="$(busy_jiffies)"; w0="${EPOCHREALTIME/./}"
  LINE="$(taskset -c "$cpus" "$PY" "$HERE/$script" --threads "$t" "$@")" && [[ "$LINE" == "{"* ]] || LINE=""
  # CPU time used by everything else on the machine while this benchmark ran
  wall_ms=$(( (${EPOCHREALTIME/./} - w0) / 1000 ))
  OTHER_MS=$(( ($(busy_jiffies) - j0) * 1000 / HZ ))
  children_cpu_ms; OTHER_MS=$(( OTHER_MS - (CHILD_MS - c0) ))
  OTHER_MS=$(( OTHER_MS < 0 ? 0 : OTHER_MS ))
  if (( OTHER_MS * 10 > wall_ms )); then
    echo "run_peers: WARNING other processes used ${OTHER_MS} ms of CPU during this ${wall_ms} ms run; its timing is probably disturbed" >&2
  else
    OTHER_MS=0
  fi
}

run() {  # run T SCRIPT ARGS...: attempt (with retries), append the least disturbed JSON line
  local best="" best_other=-1 try
  for (( try = 0; try <= RETRIES; try++ )); do
    attempt "$@"
    if [[ -n "$LINE" ]] && { (( best_other < 0 )) || (( OTHER_MS < best_other )); }; then
      best="$LINE"; best_other="$OTHER_MS"
    fi
    [[ -n "$LINE" ]] && (( OTHER_MS == 0 )) && break
    (( try < RETRIES )) && echo "run_peers: retrying" >&2
  done
  if [[ -z "$best" ]]; then
    echo "run_peers: $2 --threads $1 FAILED" >&2
    failures=$((failures + 1))
    return
  fi
  (( best_other > 0 )) && contended=$((contended + 1))
  echo "$best" | tee -a "$RESULTS"
}

for t in $THREADS; do
  run "$t" vae_torch.py --epochs "$EPOCHS" --data "$MNIST_DIR"
  run "$t" vae_jax.py --epochs "$EPOCHS" --data "$MNIST_DIR"
  run "$t" langevin_torch.py
  run "$t" langevin_jax.py
  run "$t" ais_jax.py
done

echo "run_peers: done, $failures failure(s), $contended run(s) with other CPU load; load now: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exit $((failures > 0))
