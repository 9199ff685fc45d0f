"""Time every dashboard statistic, bootstrap included, on a seeded synthetic project.

100,000 pairwise ternary judgments: 20,000 items, 5 of 200 raters each, 12 models. Run from the
repository root: ``python scripts/bench_stats.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from service.stats.agreement import (
    Stat,
    bootstrap_ci,
    code_triples,
    cohen_kappa_matrix,
    fleiss_kappa,
    kendall_w_overall,
    krippendorff_alpha,
    label_counts,
    mean_kendall_tau_overall,
    percent_agreement,
    reliability_data,
)
from service.stats.bradley_terry import bootstrap_bradley_terry, fit_bradley_terry, win_rate_matrix
from service.stats.rater_quality import leave_one_out_agreement, position_bias

# Verdict labels, ordered so that ordinal/interval alpha make sense: left better < tie < right.
LEFT, TIE, RIGHT = -1, 0, 1


def simulate(
    items: int, raters: int, per_item: int, models: int, seed: int
) -> tuple[list[tuple[int, int, int]], np.ndarray]:
    """Return (item, rater, label) judgments and each item's (left, right) models."""
    rng = np.random.default_rng(seed)
    strength = rng.normal(0, 0.7, size=models)
    skill = rng.uniform(0.3, 1.5, size=raters)  # how sharply a rater sees the difference
    left_bias = rng.normal(0, 0.2, size=raters)
    pairs = np.array([rng.choice(models, size=2, replace=False) for _ in range(items)])
    who = np.array([rng.choice(raters, size=per_item, replace=False) for _ in range(items)])
    gap = (strength[pairs[:, 0]] - strength[pairs[:, 1]])[:, None]
    p_left = 1 / (1 + np.exp(-(skill[who] * gap + left_bias[who])))
    draw = rng.random(who.shape)
    tie = rng.random(who.shape) < 0.15
    label = np.where(tie, TIE, np.where(draw < p_left, LEFT, RIGHT))
    item = np.repeat(np.arange(items), per_item)
    judgments = list(zip(item.tolist(), who.ravel().tolist(), label.ravel().tolist(), strict=True))
    return judgments, pairs


def timed(name: str, run: Callable[[], Any]) -> Any:
    """Run, print the wall time and a short summary of the result, and return it."""
    start = time.perf_counter()
    result = run()
    elapsed = time.perf_counter() - start
    print(f"{name:<46} {elapsed:7.3f} s  {_summary(result)}")
    return result


def _summary(result: Any) -> str:
    if isinstance(result, Stat):
        if result.value is None:
            return f"- ({result.reason})"
        interval = "" if result.low is None else f" [{result.low:.4f}, {result.high:.4f}]"
        return f"{result.value:.4f}{interval} n={result.n}"
    if isinstance(result, dict):
        return f"{len(result)} entries"
    return type(result).__name__


def main() -> None:
    """Simulate the project and time each statistic."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000, help="items (default 20000)")
    parser.add_argument("--raters", type=int, default=200, help="raters (default 200)")
    parser.add_argument("--per-item", type=int, default=5, help="raters per item (default 5)")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="seed for data and resampling")
    args = parser.parse_args()
    boot = {"n_boot": args.n_boot, "seed": args.seed}

    judgments, pairs = simulate(args.items, args.raters, args.per_item, 12, args.seed)
    print(f"{len(judgments)} judgments, {args.items} items, {args.raters} raters, {boot}\n")

    codes = timed("prepare: code triples", lambda: code_triples(judgments))
    counts = timed("prepare: label counts", lambda: label_counts(codes))
    data = timed("prepare: reliability data (raters x items)", lambda: reliability_data(codes))
    timed("percent agreement + bootstrap", lambda: bootstrap_ci(percent_agreement, counts, **boot))
    timed("Fleiss kappa + bootstrap", lambda: bootstrap_ci(fleiss_kappa, counts, **boot))
    for level in ("nominal", "ordinal", "interval"):
        timed(
            f"Krippendorff alpha ({level}) + bootstrap",
            lambda level=level: bootstrap_ci(krippendorff_alpha, data, level=level, **boot),
        )
    timed("Cohen kappa matrix (all rater pairs)", lambda: cohen_kappa_matrix(judgments))

    # A pairwise verdict is a ranking of two responses: rank 1 is better, a tie shares it.
    as_ranks = {LEFT: (1, 2), TIE: (1, 1), RIGHT: (2, 1)}
    order = np.argsort(codes.item, kind="stable")
    labels = np.asarray(codes.labels)[codes.label[order]]
    rows = np.array([as_ranks[v] for v in labels.tolist()])
    rankings = list(rows.reshape(args.items, args.per_item, 2))
    timed(
        "Kendall W (mean over items) + bootstrap",
        lambda: bootstrap_ci(kendall_w_overall, rankings, **boot),
    )
    timed(
        "mean Kendall tau-b (over items) + bootstrap",
        lambda: bootstrap_ci(mean_kendall_tau_overall, rankings, **boot),
    )

    models = [f"model-{k}" for k in range(12)]
    score = {LEFT: 1.0, TIE: 0.5, RIGHT: 0.0}
    outcomes = [(models[pairs[i, 0]], models[pairs[i, 1]], score[v]) for i, _, v in judgments]
    items = [i for i, _, _ in judgments]
    timed("Bradley-Terry fit", lambda: fit_bradley_terry(models, outcomes))
    timed(
        "Bradley-Terry + bootstrap (resampling items)",
        lambda: bootstrap_bradley_terry(models, outcomes, units=items, **boot),
    )
    timed("win-rate matrix", lambda: win_rate_matrix(models, outcomes))
    timed("leave-one-out agreement (every rater)", lambda: leave_one_out_agreement(judgments))
    timed("position bias (every rater)", lambda: _position_bias_by_rater(judgments))


def _position_bias_by_rater(judgments: list[tuple[int, int, int]]) -> dict[int, Stat]:
    left: dict[int, int] = {}
    decided: dict[int, int] = {}
    for _, rater, label in judgments:
        if label != TIE:
            decided[rater] = decided.get(rater, 0) + 1
            left[rater] = left.get(rater, 0) + (label == LEFT)
    return {r: position_bias(left.get(r, 0), n) for r, n in decided.items()}


if __name__ == "__main__":
    main()
