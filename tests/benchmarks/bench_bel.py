"""Benchmark of the term_monthly BEL engine (specs/life.md A).

1. lifelib basiclife ``BasicTerm_ME`` on its 10 000 bundled model points against our engine on
   the same points and assumptions, measured in the same run (ratio > 1: ours faster).
2. Our engine on generated policies (default 1 000 000) in shards of 50 000 as the ``bel``
   kind runs them: wall time and peak RSS (``resource.getrusage``), against 100x the 10 000
   point time (ratio > 1: better than linear scaling).
3. A Solvency II style revaluation: base + 4 discount/expense bases in one decrement pass
   against 5 separate passes (ratio > 1: the shared pass is faster).

Usage: ``python tests/benchmarks/bench_bel.py [--policies N] [--shard 50000] [--repeat 5]``.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import sys
import time

import numpy as np

from workers.engines.life.assumptions import TermAssumptions, default_term_assumptions
from workers.engines.life.cashflow import project_term_monthly, project_term_monthly_bases


def bench(name: str, value: float, unit: str, ref: float, ref_unit: str, ratio: float) -> None:
    print(f"BENCH {name}: {value:.6g} {unit} | reference {ref:.6g} {ref_unit} | ratio {ratio:.3g}", flush=True)


def best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux, bytes on macOS.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024.0 / (1024.0 if sys.platform == "darwin" else 1.0)


def generated_policies(n: int, seed: int = 20261122) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    term = rng.choice(np.array([10, 15, 20]), size=n)
    return {
        "issue_age": rng.integers(20, 60, size=n),
        "policy_term_years": term,
        "policy_count": rng.integers(1, 100, size=n).astype(np.float64),
        "sum_assured": rng.integers(10, 1000, size=n) * 1000.0,
        "duration_months": rng.integers(0, 12 * term),
        "monthly_premium": rng.uniform(20.0, 500.0, size=n),
    }


def lifelib_inputs(space) -> tuple[dict, TermAssumptions]:
    mp = space.model_point_table
    policies = {
        "issue_age": mp["age_at_entry"].to_numpy(), "policy_term_years": mp["policy_term"].to_numpy(),
        "policy_count": mp["policy_count"].to_numpy(dtype=float), "sum_assured": mp["sum_assured"].to_numpy(dtype=float),
        "duration_months": mp["duration_mth"].to_numpy(), "monthly_premium": np.asarray(space.premium_pp(), dtype=float),
    }
    mort = space.mort_table
    a = TermAssumptions(
        q_select=mort.to_numpy(dtype=float), min_age=int(mort.index[0]), select_period=mort.shape[1] - 1,
        lapse_by_policy_year=np.maximum(0.1 - 0.02 * np.arange(5), 0.02), expense_acquisition=float(space.expense_acq()),
        expense_maintenance=float(space.expense_maint()), expense_inflation=float(space.inflation_rate()),
        commission_first_year=1.0, discount_spot_annual=space.disc_rate_ann.to_numpy(dtype=float),
    )
    return policies, a


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", type=int, default=1_000_000)
    parser.add_argument("--shard", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    a = default_term_assumptions()
    warm = generated_policies(100)
    project_term_monthly(warm, a)  # numba compilation (or cache load) outside the timings
    project_term_monthly_bases(warm, [a, dataclasses.replace(a, expense_multiplier=1.1)])

    # 2. Large portfolio first, so peak RSS is not the lifelib model's.
    rss_before = peak_rss_mb()
    big = generated_policies(args.policies)
    small = {k: v[:10_000] for k, v in big.items()}
    t10k = best_of(lambda: project_term_monthly(small, a), args.repeat)
    t0 = time.perf_counter()
    total_bel = 0.0
    for start in range(0, args.policies, args.shard):
        shard = {k: v[start:start + args.shard] for k, v in big.items()}
        total_bel += float(project_term_monthly(shard, a).bel.sum())
    t_big = time.perf_counter() - t0
    expected = t10k * args.policies / 10_000
    bench(f"bel_term_monthly_{args.policies}_policies_vs_linear_10k (>1 better than linear)",
          t_big, "s", expected, "s", expected / t_big)
    print(f"context: {args.policies} policies in shards of {args.shard}: {args.policies / t_big:,.0f} policies/s, "
          f"10k policies {t10k * 1e3:.1f} ms, peak RSS {peak_rss_mb():.0f} MB (before inputs {rss_before:.0f} MB), "
          f"total BEL {total_bel:.6g}", flush=True)

    # 3. Shared decrement pass for interest / expense revaluations.
    bases = [a, dataclasses.replace(a, discount_spot_annual=a.discount_spot_annual + 0.01),
             dataclasses.replace(a, discount_spot_annual=np.maximum(a.discount_spot_annual - 0.01, -0.5)),
             dataclasses.replace(a, expense_multiplier=1.1, expense_inflation_add=0.01),
             dataclasses.replace(a, commission_first_year=0.9)]
    shard = {k: v[:args.shard] for k, v in big.items()}
    t_shared = best_of(lambda: project_term_monthly_bases(shard, bases), max(1, args.repeat // 2))
    t_separate = best_of(lambda: [project_term_monthly(shard, b) for b in bases], max(1, args.repeat // 2))
    bench(f"bel_term_monthly_5_bases_shared_pass_{len(shard['issue_age'])}_policies (>1 shared faster)",
          t_shared, "s", t_separate, "s", t_separate / t_shared)
    del big, small, shard

    # 1. Against lifelib BasicTerm_ME.
    try:
        import lifelib
        import modelx
    except ImportError as exc:  # lifelib is a dev dependency
        print(f"context: lifelib comparison skipped ({exc})")
        return
    path = os.path.join(os.path.dirname(lifelib.__file__), "libraries", "basiclife", "BasicTerm_ME")
    model = modelx.read_model(path)
    space = model.Projection
    policies, la = lifelib_inputs(space)
    t_ours = best_of(lambda: project_term_monthly(policies, la), args.repeat)
    t0 = time.perf_counter()
    ref = space.result_pv()
    t_lifelib = time.perf_counter() - t0
    ours = project_term_monthly(policies, la)
    ref_claims = ref["PV Claims"].to_numpy()
    nonzero = ref_claims != 0.0
    diff = np.max(np.abs(ours.pv_claims[nonzero] - ref_claims[nonzero]) / np.abs(ref_claims[nonzero]))
    bench("bel_term_monthly_vs_lifelib_BasicTerm_ME_10000_points (>1 ours faster)",
          t_ours, "s", t_lifelib, "s", t_lifelib / t_ours)
    print(f"context: lifelib {modelx.__name__} {modelx.__version__} result_pv() first evaluation (cells cached "
          f"afterwards) vs our best of {args.repeat}; max relative difference of PV claims {diff:.2e}", flush=True)
    model.close()


if __name__ == "__main__":
    main()
