"""``make bench``: every benchmark in its own process (memory figures stay separate), one summary."""
from __future__ import annotations

import os
import subprocess
import sys
import time

ORDER = ["bench_platform", "bench_ecl_engine", "bench_ecl_job", "bench_ingest_parse", "bench_upload",
         "bench_bel", "bench_scr_engine", "bench_life_jobs", "bench_montecarlo", "bench_mortality"]


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    names = [a for a in sys.argv[1:]] or [n for n in ORDER if os.path.exists(os.path.join(here, n + ".py"))]
    lines, failed = [], []
    for name in names:
        print(f"\n### {name}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", f"tests.benchmarks.{name}"], cwd=root, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        print(proc.stdout, flush=True)
        lines += [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH ")]
        if proc.returncode:
            failed.append(name)
        print(f"({name}: {time.perf_counter() - t0:.1f}s, exit {proc.returncode})", flush=True)
    print("\n==== summary ====")
    print("\n".join(lines))
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
