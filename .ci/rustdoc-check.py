#!/usr/bin/env python3
"""The API documentation check (`rustdoc -D warnings` on the library) without a second
compile of the dependencies.

`cargo doc` compiles every dependency again in check mode for its metadata (1.5 min on 2
cores) although the test build has just compiled them. This script runs rustdoc on
`src/lib.rs` against the test build's own rlibs instead: it reads the build's JSON
messages (`cargo ... --message-format=json-render-diagnostics`, file given as the first
argument) for each package's library file, and `cargo metadata` for the library's direct
dependencies and the names they are imported under.

Exit status: 0 documented without warnings; 1 rustdoc failed (its diagnostics are on
stderr); 3 the build's messages do not name one library file per dependency (then
`.ci/run` falls back to `cargo doc`).
"""

import json
import os
import subprocess
import sys


def main() -> int:
    messages, out_dir = sys.argv[1], sys.argv[2]
    libs: dict[str, set[str]] = {}
    deps_dir = None
    with open(messages) as f:
        for line in f:
            if not line.startswith("{"):
                continue
            msg = json.loads(line)
            if msg.get("reason") != "compiler-artifact":
                continue
            kinds = msg["target"]["kind"]
            if not any(k in ("lib", "rlib", "proc-macro") for k in kinds):
                continue
            for path in msg["filenames"]:
                if path.endswith((".rlib", ".so", ".dylib", ".dll")):
                    libs.setdefault(msg["package_id"], set()).add(path)
                    deps_dir = os.path.dirname(path)
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    root = meta["resolve"]["root"]
    pkg = next(p for p in meta["packages"] if p["id"] == root)
    node = next(n for n in meta["resolve"]["nodes"] if n["id"] == root)
    externs = []
    for dep in node["deps"]:
        if not any(k["kind"] is None for k in dep["dep_kinds"]):
            continue  # dev- and build-dependencies are not the library's
        files = libs.get(dep["pkg"], set())
        if len(files) != 1:
            print(
                f"rustdoc-check: {dep['pkg']}: {len(files)} library files in the build",
                file=sys.stderr,
            )
            return 3
        externs += ["--extern", f"{dep['name']}={files.pop()}"]
    if deps_dir is None:
        return 3
    lib = next(t for t in pkg["targets"] if "lib" in t["kind"])
    env = dict(os.environ)
    env.update(
        CARGO_PKG_NAME=pkg["name"],
        CARGO_PKG_VERSION=pkg["version"],
        CARGO_CRATE_NAME=lib["name"],
        CARGO_MANIFEST_DIR=os.path.dirname(pkg["manifest_path"]),
    )
    cmd = [
        "rustdoc",
        "--edition",
        pkg["edition"],
        "--crate-type",
        "lib",
        "--crate-name",
        lib["name"],
        lib["src_path"],
        "-o",
        out_dir,
        "-L",
        f"dependency={deps_dir}",
        "-D",
        "warnings",
        *externs,
    ]
    return 0 if subprocess.run(cmd, env=env).returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
