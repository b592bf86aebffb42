#!/usr/bin/env bash
# Side-by-side run of the two core workloads: ebm, PyTorch and JAX in one session on one
# machine, at 1 and 2 threads (each process pinned with taskset), JSON lines appended to
# OUT; then bench/table.py turns them into the table of BENCHMARKS.md.
#
# usage: bench/compare.sh [EPOCHS=3] [OUT=bench/results.jsonl]
# env:   PEERS_PY (python with torch, jax, numpy; default /tmp/peers/bin/python), MNIST_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS="${1:-3}"
OUT="${2:-bench/results.jsonl}"
MNIST_DIR="${MNIST_DIR:-../shared/data/mnist}"
: > "$OUT"
cargo build --release --locked -q
for t in 1 2; do
  cpus="$(seq -s, 0 $((t - 1)))"
  taskset -c "$cpus" ./target/release/ebm --threads "$t" bench vae --data "$MNIST_DIR" --epochs "$EPOCHS" \
    | sed 's/^{/{"impl":"ebm",/' | tee -a "$OUT"
  taskset -c "$cpus" ./target/release/ebm --threads "$t" bench langevin --repeat 5 \
    | sed 's/^{/{"impl":"ebm",/' | tee -a "$OUT"
done
PEERS_WAIT_IDLE="${PEERS_WAIT_IDLE:-20}" MNIST_DIR="$MNIST_DIR" bench/peers/run_peers.sh "$EPOCHS" "$OUT"
{ echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"; } >> "$OUT"
python3 bench/table.py "$OUT"
