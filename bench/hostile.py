#!/usr/bin/env python3
"""The hostile-flag corpus of issue 15: every numeric option of every subcommand at 0,
-1, NaN, inf, huge and past u64, run under a 4 GiB address-space limit and a 60 s
timeout. A run passes when it ends with exit 0, or exit 1/2 with exactly one line on
stderr starting `error:` (the last); it fails on exit 101 (panic), 134 (abort), a
timeout, a "panicked" anywhere, or a multi-line error. Two classes are reported, not
counted as failures: a timeout of a flag that sets an amount of work (epochs, updates,
draws, steps) to a huge value, which runs as asked; and NaN or inf accepted with exit
0 (to review: a float flag that takes NaN silently is a bug).

    python3 bench/hostile.py [path/to/ebm] [--only SUBSTRING]

Prints one line per failure and a summary (runs, failures by class, slowest run).
"""

import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

EBM = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else "target/release/ebm"
ONLY = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
VALUES = ["0", "-1", "nan", "inf", "1e300", "99999999999", "18446744073709551616"]
LIMIT = 4 << 30
TIMEOUT = 60

# Base invocations: small, quick workloads; {d} is a fresh folder per run.
BASES = [
    ["gibbs"],
    ["sample", "--draws", "50", "--warmup", "50", "--out", "{d}"],
    ["sample", "--kernel", "nuts", "--draws", "50", "--warmup", "50", "--out", "{d}"],
    ["train", "toy", "--updates", "20", "--eval-every", "10", "--grid", "32", "--out", "{d}"],
    ["train", "toy", "--negatives", "grid", "--updates", "20", "--eval-every", "10", "--grid", "32", "--out", "{d}"],
    ["train", "vae", "--epochs", "1", "--run", "{d}"],
    ["train", "rbm", "--epochs", "1", "--hidden", "8", "--run", "{d}"],
    ["train", "classifier", "--epochs", "1", "--save", "{d}/c.safetensors"],
    ["lagrangian"],
    ["canyon", "--updates", "200", "--out", "{d}"],
    ["fuzzy-balls", "--epochs", "1", "--out", "{d}"],
    ["demo", "--epochs", "1"],
]

SKIP_FLAGS = {"--help", "--version", "--quiet", "--print-config", "--config"}
# Flags that set an amount of work: a huge value runs long, as asked (Ctrl-C stops it).
WORK = {"--epochs", "--updates", "--draws", "--warmup", "--minutes", "--eval-every",
        "--samples", "--points", "--ais-every", "--checkpoint-every", "--momentum-switch",
        "--k-ramp", "--grid-refresh", "--show", "--keep"}


def numeric_flags(base):
    """The options of `base`'s subcommand that take a value (from --help)."""
    sub = [a for a in base if not a.startswith("-") and "{" not in a][:2]
    out = subprocess.run([EBM, *sub, "--help"], capture_output=True, text=True).stdout
    flags = []
    for line in out.splitlines():
        m = re.match(r"\s+(?:-\w, )?(--[\w-]+) <(\w+)>", line)
        if m and m.group(1) not in SKIP_FLAGS:
            flags.append(m.group(1))
    return flags


def limit():
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def main():
    runs, failures, slowest = 0, {}, (0.0, None)
    tmp = tempfile.mkdtemp(prefix="ebm-hostile-")
    for base in BASES:
        for flag in numeric_flags(base):
            if flag in ("--out", "--run", "--save", "--resume", "--checkpoint", "--data", "--energy"):
                continue
            for v in VALUES:
                d = os.path.join(tmp, f"r{runs}")
                args = [a.replace("{d}", d) for a in base]
                # The flag given last overrides the base's value of it.
                cmd = [EBM, *args, flag, v]
                if ONLY and ONLY not in " ".join(cmd):
                    continue
                runs += 1
                t = time.time()
                try:
                    p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT,
                                       preexec_fn=limit, env={**os.environ, "EBM_MEMORY_LIMIT": "3G"})
                    code, err = p.returncode, p.stderr
                except subprocess.TimeoutExpired as e:
                    code, err = "timeout", (e.stderr or b"").decode(errors="replace")
                took = time.time() - t
                if took > slowest[0]:
                    slowest = (took, " ".join(cmd[1:]))
                lines = [l for l in err.splitlines() if l.strip()]
                # Progress lines go to stderr too; an error is the last line.
                cls = None
                if code == "timeout" and flag in WORK and v not in ("0", "-1", "nan"):
                    print(f"LONG (as asked) {' '.join(cmd[1:])}", flush=True)
                elif code == "timeout":
                    cls = "timeout"
                elif code in (101, -6, 134) or "panicked" in err:
                    cls = f"panic/abort ({code})"
                elif code != 0 and not (lines and lines[-1].startswith("error: ")):
                    cls = f"exit {code} without an error line"
                elif code != 0 and sum(l.startswith("error") for l in lines) != 1:
                    cls = "error on several lines"
                if code == 0 and v in ("nan", "inf") :
                    print(f"ACCEPTED {' '.join(cmd[1:])}", flush=True)
                if cls:
                    failures.setdefault(cls, []).append(" ".join(cmd[1:]))
                    print(f"FAIL [{cls}] {' '.join(cmd[1:])} :: {lines[-1][:200] if lines else ''}", flush=True)
                shutil.rmtree(d, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)
    n_fail = sum(len(v) for v in failures.values())
    print(f"runs {runs}, failures {n_fail}: " + ", ".join(f"{k} {len(v)}" for k, v in failures.items()))
    print(f"slowest: {slowest[0]:.1f} s ({slowest[1]})")
    sys.exit(1 if n_fail else 0)


if __name__ == "__main__":
    main()
