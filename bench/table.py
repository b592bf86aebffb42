"""Turn the JSON lines of bench/compare.sh into the Markdown table of BENCHMARKS.md.

For each workload and thread count: ebm's time (median of its repeats), PyTorch's and
JAX's, and the ratios peer / ebm (above 1: ebm is faster). VAE: seconds per epoch
(median over epochs after the first); Langevin: seconds for 200 steps.
"""
import json
import statistics
import sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]


def secs(r):
    return r.get("seconds_per_epoch", r.get("seconds"))


def get(impl, wl, t):
    v = [secs(r) for r in rows if r.get("impl") == impl and r["workload"] == wl and r["threads"] == t]
    return statistics.median(v) if v else None


def loss(impl, key, i):
    for r in rows:
        if r.get("impl") == impl and r["workload"] == "vae" and r["threads"] == 2:
            return r[key][i] if len(r[key]) > i else None


targets = {("vae", 1): 5.0, ("vae", 2): 3.0, ("langevin", 1): 1.1, ("langevin", 2): 0.6}
print("| workload | threads | ebm | PyTorch | JAX | PyTorch / ebm | JAX / ebm | target for ebm |")
print("|---|---|---|---|---|---|---|---|")
for wl, unit in [("vae", "s/epoch"), ("langevin", "s / 200 steps")]:
    for t in (1, 2):
        e, p, j = get("ebm", wl, t), get("pytorch", wl, t), get("jax", wl, t)
        f = lambda x: "-" if x is None else f"{x:.2f}"
        r = lambda x: "-" if (x is None or e is None) else f"{x / e:.2f}x"
        print(f"| {wl} ({unit}) | {t} | {f(e)} | {f(p)} | {f(j)} | {r(p)} | {r(j)} | <= {targets[(wl, t)]} |")
print()
print("| VAE loss per image (nats), 2 threads | ebm | PyTorch | JAX |")
print("|---|---|---|---|")
for key, i, name in [("test_loss", 0, "test, after epoch 1"), ("train_loss", 2, "train, epoch 3"), ("test_loss", 2, "test, after epoch 3")]:
    vals = [loss(x, key, i) for x in ("ebm", "pytorch", "jax")]
    print(f"| {name} | " + " | ".join("-" if v is None else f"{v:.2f}" for v in vals) + " |")
