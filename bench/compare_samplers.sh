#!/usr/bin/env bash
# Side-by-side run of the sampler and contrastive-training workloads: ebm and its peers
# (JAX, BlackJAX, NumPy, PyTorch, nuts-rs called directly) in one session, each process
# pinned with taskset to CPUs 0..T-1; JSON lines appended to OUT, medians printed.
#
# usage: bench/compare_samplers.sh [REPEATS=5] [OUT=bench/results_samplers.jsonl]
# env:   PEERS_PY (python with torch, jax, blackjax, arviz, numpy; default /tmp/peers/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS="${1:-5}"
OUT="${2:-bench/results_samplers.jsonl}"
PY="${PEERS_PY:-/tmp/peers/bin/python}"
: > "$OUT"
cargo build --release --locked -q
cargo build --release --locked -q --example nuts_overhead
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT"
for t in 1 2; do
  cpus="$(seq -s, 0 $((t - 1)))"
  for w in mala hmc contrastive; do
    taskset -c "$cpus" ./target/release/ebm --threads "$t" bench "$w" --repeat "$REPEATS" \
      | sed 's/^{/{"impl":"ebm",/' | tee -a "$OUT"
  done
  taskset -c "$cpus" "$PY" bench/peers/contrastive_torch.py --threads "$t" | tee -a "$OUT"
  taskset -c "$cpus" "$PY" bench/peers/contrastive_torch.py --threads "$t" | tee -a "$OUT"
done
taskset -c 0 ./target/release/examples/nuts_overhead | tee -a "$OUT"
PEERS_PY="$PY" bench/peers/run_samplers.sh "$REPEATS" "$OUT.peers"
cat "$OUT.peers" >> "$OUT" && rm -f "$OUT.peers"
python3 - "$OUT" <<'PY'
import json, sys, statistics as st
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
groups = {}
for r in rows:
    key = (r.get("workload") or r.get("target", "?"), r.get("impl", "?"), r.get("threads") or 1)
    if "seconds" in r:
        groups.setdefault(key, []).append(r["seconds"])
for k in sorted(groups, key=str):
    v = groups[k]
    print(f"{k[0]:>12} {k[1]:>10} threads {k[2]}: median {st.median(v):.4f} s over {len(v)}")
PY
