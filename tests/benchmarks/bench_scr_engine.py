"""Benchmark: Solvency II life shocks (``scr``) vs the base BEL run they revalue.

Performance target (helper brief): the SCR of 1 000 000 policies costs at most 3x one base
BEL run. Measured in the same run on the same policies:

* base      — one ``project_term_monthly`` run (the BEL engine, specs/life.md A);
* fused     — :func:`workers.engines.solvency.life_shocks.shocked_bels`: base BEL and the
  8 shocked BELs (mortality, longevity, expense, lapse up/down, catastrophe, interest up/down);
* separate  — the 9 bases valued one ``project_term_monthly`` call each (naive revaluation);
* shared    — the BEL engine's ``project_term_monthly_bases`` on the same 9 bases;
* fused on one numba thread (the base engine is single-threaded), for a like-for-like cost.

Usage: ``python tests/benchmarks/bench_scr_engine.py [n_policies]`` (default 1 000 000).
"""
from __future__ import annotations

import sys
import time

import numba
import numpy as np

from workers.engines.life.assumptions import default_term_assumptions
from workers.engines.life.cashflow import project_term_monthly, project_term_monthly_bases
from workers.engines.solvency.life_shocks import shocked_assumptions, shocked_bels


def policies(n: int, seed: int = 2024) -> dict:
    """Model points shaped like lifelib BasicTerm_ME's (ages 20-59, terms 10/15/20, in force)."""
    rng = np.random.default_rng(seed)
    term = rng.choice([10, 15, 20], n)
    return {
        "issue_age": rng.integers(20, 60, n),
        "policy_term_years": term,
        "policy_count": rng.integers(1, 100, n).astype(np.float64),
        "sum_assured": rng.integers(10_000, 1_000_000, n).astype(np.float64),
        "duration_months": rng.integers(0, 12 * term),
        "monthly_premium": rng.uniform(10, 500, n).round(2),
    }


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    repeat = 3 if n <= 200_000 else 2
    a = default_term_assumptions()
    pol = policies(n)
    bases = [a, *shocked_assumptions(a).values()]
    warm = {k: v[:100] for k, v in pol.items()}
    project_term_monthly(warm, a)
    shocked_bels(warm, a)
    project_term_monthly_bases(warm, bases)

    t_base = best_of(lambda: project_term_monthly(pol, a), repeat)
    t_fused = best_of(lambda: shocked_bels(pol, a), repeat)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    t_fused_1 = best_of(lambda: shocked_bels(pol, a), repeat)
    numba.set_num_threads(threads)
    t_shared = best_of(lambda: project_term_monthly_bases(pol, bases), 1)
    t_separate = best_of(lambda: [project_term_monthly(pol, b) for b in bases], 1)

    # the fused pass must give the engine's numbers
    fused = shocked_bels({k: v[:2000] for k, v in pol.items()}, a)
    ref = project_term_monthly_bases({k: v[:2000] for k, v in pol.items()}, bases)
    err = max(float(np.max(np.abs(fused[f"bel_{name}"] - r.bel) / (1 + np.abs(r.bel))))
              for name, r in zip(("", *shocked_assumptions(a)), ref) if name) if ref else 0.0
    err = max(err, float(np.max(np.abs(fused["bel"] - ref[0].bel) / (1 + np.abs(ref[0].bel)))))

    print(f"BENCH scr_fused_shocks_vs_one_base_bel: {t_fused:.3f} s | reference {t_base:.3f} s | "
          f"ratio {t_base / t_fused:.3f}")
    print(f"BENCH scr_fused_shocks_1_thread_vs_one_base_bel: {t_fused_1:.3f} s | reference {t_base:.3f} s | "
          f"ratio {t_base / t_fused_1:.3f}")
    print(f"BENCH scr_fused_shocks_vs_separate_revaluations: {t_fused:.3f} s | reference {t_separate:.3f} s | "
          f"ratio {t_separate / t_fused:.3f}")
    print(f"BENCH scr_fused_shocks_vs_engine_shared_bases: {t_fused:.3f} s | reference {t_shared:.3f} s | "
          f"ratio {t_shared / t_fused:.3f}")
    print(f"context: {n} policies, 9 valuations (base + 8 shocks); SCR life+interest cost = "
          f"{t_fused / t_base:.2f}x one base BEL run ({t_fused_1 / t_base:.2f}x on one thread; the base engine "
          f"runs on one thread; target <= 3); {threads} numba threads; max relative difference vs the BEL engine "
          f"on 2 000 policies {err:.1e}")


if __name__ == "__main__":
    main()
