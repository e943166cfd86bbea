"""Benchmark: mlkit.drift.drift_report against a plain per-column loop over scipy (module 06).

Both build the same report (KS or chi-square test, Bonferroni and Benjamini–Hochberg,
PSI, Jensen–Shannon and Wasserstein) for a reference of 1,000,000 rows and a current
batch of 1,000,000 rows with 20 features: 10 numeric (smooth, skewed, heavy-tailed and
heavily tied) and 10 categorical (2 to 50 categories; 8 pandas categoricals, 2 plain
string columns), drift injected into 6 of them. Prints seconds for each, the ratio, and
whether the two reports agree (same decisions; numbers equal to 1e-9, relative). Wall-clock
and CPU seconds are both printed, with the load average: on a shared machine the wall
clock grows with the load, the CPU time much less.

Run: .venv/bin/python bench/drift.py [--rows N] [--repeats R]
Target on the course machine: mlkit.drift <= 2 s and >= 3x faster than the loop.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from mlkit.drift import drift_report, scipy_drift_report

N_CATEGORIES = [2, 3, 4, 5, 6, 8, 12, 20, 30, 50]
STRING_COLUMNS = {"cat_8", "cat_9"}  # object dtype; the others are pandas categoricals


def numeric_columns(n: int, rng: np.random.Generator, shift: float) -> dict[str, np.ndarray]:
    """Ten numeric features; `shift` moves four of them (0 for the reference)."""
    return {
        "num_0": rng.normal(0 + shift, 1, n),
        "num_1": rng.lognormal(10, 0.5, n),
        "num_2": rng.exponential(30 * (1 + shift), n).round(),
        "num_3": rng.poisson(1.5, n).astype(float),
        "num_4": rng.uniform(0, 1, n),
        "num_5": rng.normal(50, 10, n).round(1) + shift,
        "num_6": rng.gamma(2, 6, n),
        "num_7": rng.standard_t(3, n),
        "num_8": np.clip(rng.normal(42, 13, n), 18, 90).round() + 2 * shift,
        "num_9": rng.beta(2, 5 + shift, n),
    }


def categorical_columns(n: int, rng: np.random.Generator, shift: float) -> dict[str, object]:
    """Ten categorical features; `shift` tilts two of them towards their last category."""
    columns = {}
    for i, k in enumerate(N_CATEGORIES):
        weights = 1.0 / np.arange(1, k + 1)
        if i in (1, 6):
            weights[-1] *= 1 + 4 * shift
        labels = np.array([f"c{j:02d}" for j in range(k)])
        values = labels[rng.choice(k, size=n, p=weights / weights.sum())]
        name = f"cat_{i}"
        columns[name] = values if name in STRING_COLUMNS else pd.Categorical(values, labels)
    return columns


def make_frame(n: int, seed: int, shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {**numeric_columns(n, rng, shift), **categorical_columns(n, rng, shift)}, copy=False
    )


def best_seconds(fn, repeats: int) -> tuple[float, float, pd.DataFrame]:
    """Fastest wall-clock and CPU seconds of `repeats` runs of fn(), and its last result.

    CPU seconds (this process only) say what the work costs when other programs compete
    for the cores; wall-clock seconds are what a user waits.
    """
    wall, cpu, result = [], [], None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), min(cpu), result


def largest_relative_gap(fast: pd.DataFrame, slow: pd.DataFrame) -> float:
    columns = ["statistic", "p_value", "p_bonferroni", "p_bh", "psi", "js_distance", "wasserstein"]
    a, b = fast[columns].to_numpy(float), slow[columns].to_numpy(float)
    both_nan = np.isnan(a) & np.isnan(b)
    gap = np.abs(a - b) / np.maximum(np.abs(b), 1e-300)
    gap[both_nan | (a == b)] = 0.0
    return float(gap.max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in each sample")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of mlkit.drift")
    args = parser.parse_args()

    reference = make_frame(args.rows, seed=1, shift=0.0)
    current = make_frame(args.rows, seed=2, shift=0.02)
    n_num = sum(pd.api.types.is_numeric_dtype(t) for t in reference.dtypes)
    print(
        f"reference {len(reference):,} rows, current {len(current):,} rows, "
        f"{reference.shape[1]} features ({n_num} numeric, {reference.shape[1] - n_num} categorical)"
    )

    fast_s, fast_cpu, fast = best_seconds(lambda: drift_report(reference, current), args.repeats)
    slow_s, slow_cpu, slow = best_seconds(lambda: scipy_drift_report(reference, current), 1)
    gap = largest_relative_gap(fast, slow)
    same = bool((fast["drifted"] == slow["drifted"]).all()) and gap <= 1e-9

    print(f"load average (1 min) on {os.cpu_count()} cores: {os.getloadavg()[0]:.1f}")
    best = f"best of {args.repeats}"
    print(f"mlkit.drift.drift_report:   {fast_s:6.2f} s wall, {fast_cpu:6.2f} s CPU ({best})")
    print(f"per-column loop over scipy: {slow_s:6.2f} s wall, {slow_cpu:6.2f} s CPU")
    print(
        f"speed-up:                   {slow_s / fast_s:6.1f}x wall, {slow_cpu / fast_cpu:6.1f}x CPU"
    )
    print(f"largest relative difference: {gap:.1e}")
    print(f"results identical (1e-9):    {same}")
    print(f"drifted features (BH, 0.05): {', '.join(fast.feature[fast.drifted])}")


if __name__ == "__main__":
    main()
