#!/usr/bin/env bash
# Side by side, one session, each process pinned with taskset to the same cores:
#  1. the PyTorch examples VAE for EPOCHS epochs (test loss after each epoch, s/epoch);
#  2. CD-1 epochs of a 784x500 RBM (the loop of `ebm train rbm`) against its PyTorch peer.
# JSON lines appended to OUT.
#
# usage: bench/compare_latent.sh [EPOCHS=10] [THREADS=2] [OUT=bench/results_latent.jsonl]
# env:   SEEDS (default "0 1 2"), PEERS_PY (python with torch; default /tmp/peers/bin/python), MNIST_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS="${1:-10}"
T="${2:-2}"
OUT="${3:-bench/results_latent.jsonl}"
PY="${PEERS_PY:-/tmp/peers/bin/python}"
MNIST_DIR="${MNIST_DIR:-../shared/data/mnist}"
cpus="$(seq -s, 0 $((T - 1)))"
cargo build --release --locked -q
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" >> "$OUT"
for s in ${SEEDS:-0 1 2}; do
  taskset -c "$cpus" ./target/release/ebm --threads "$T" --seed "$s" bench vae --data "$MNIST_DIR" --epochs "$EPOCHS" \
    | sed "s/^{/{\"impl\":\"ebm\",\"seed\":$s,/" | tee -a "$OUT"
  taskset -c "$cpus" "$PY" bench/peers/vae_torch.py --data "$MNIST_DIR" --epochs "$EPOCHS" --threads "$T" --seed "$s" \
    | sed "s/^{/{\"seed\":$s,/" | tee -a "$OUT"
done
# RBM CD-1: two epochs each (the second is the steady state).
taskset -c "$cpus" ./target/release/ebm --threads "$T" train rbm --data "$MNIST_DIR" --hidden 500 \
  --epochs 2 --batch 100 --lr 0.05 --lr-final 0.05 \
  | awk -v t="$T" '$1 ~ /^[0-9]+$/ {printf "{\"workload\":\"rbm_cd1\",\"impl\":\"ebm\",\"threads\":%s,\"epoch\":%s,\"line\":\"%s\"}\n", t, $1, $0}' \
  | tee -a "$OUT"
taskset -c "$cpus" "$PY" bench/peers/rbm_cd1_torch.py --data "$MNIST_DIR" --epochs 2 --threads "$T" | tee -a "$OUT"
