"""Simulate collecting pairwise judgments with uniform and with adaptive model pairing.

Synthetic raters judge pairs of models whose true strengths are known (Bradley–Terry, evenly
spaced on the Elo-like scale). Each strategy picks the next ``--refit`` pairs with
``service.stats.pairing.choose_pairs``, the function that picks the pairs of new generated
items in the service (uniform pairing is the same function with a uniform share of 1), then
the leaderboard is refitted with the service's own Bradley–Terry code and its bootstrap
intervals (``bradley_terry.bootstrap_coded``). A run ends when the fitted ranking is the true
one and the widest 95% interval is narrower than ``--target`` Elo points.

Run from the repository root: ``python scripts/simulate_collection.py`` (``--help`` for
options). It prints a table and, as its last line, one JSON object with the judgments each
strategy needed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass

import numpy as np

from service.stats.bradley_terry import ELO_SCALE, Coded, bootstrap_coded, fit_wins, wins_matrix
from service.stats.pairing import UNIFORM_SHARE, choose_pairs, model_pairs

STRATEGIES = ("uniform", "adaptive")


@dataclass(frozen=True)
class Run:
    """One strategy on one seed: judgments until done (None: not within the budget); when the
    run ended, how many pairs of models the fit had in the wrong order and the widest 95%
    interval (Elo points)."""

    needed: int | None
    inversions: int
    widest: float
    judgments: int


def true_strengths(models: int, gap: float) -> np.ndarray:
    """Return centred log-strengths ``gap`` Elo points apart, strongest first."""
    elo = -gap * np.arange(models, dtype=float)
    return (elo - elo.mean()) / ELO_SCALE


def inversions(fitted: np.ndarray, truth: np.ndarray) -> int:
    """Count the pairs of models the fit orders differently from the truth (ties count)."""
    return sum(
        (fitted[i] - fitted[j]) * (truth[i] - truth[j]) <= 0 for i, j in model_pairs(len(truth))
    )


def simulate(
    strategy: str,
    *,
    truth: np.ndarray,
    seed: int,
    target: float,
    refit: int,
    budget: int,
    uniform_share: float = UNIFORM_SHARE,
    n_boot: int = 200,
    known: int = 0,
) -> Run:
    """Collect judgments ``refit`` at a time until the ranking is right and every interval is
    narrower than ``target`` Elo points, or ``budget`` judgments are spent.

    With ``known`` > 0 the leaderboard already holds that many judgments, uniformly paired,
    of every model but the middle one, which then joins (the same for both strategies of a
    seed); only judgments after it joins count.
    """
    share = 1.0 if strategy == "uniform" else uniform_share
    size = len(truth)
    pairs = np.array(model_pairs(size))
    a, b, score = _judge(
        truth, pairs[_known_pairs(size, known, seed)], np.random.default_rng([seed, 2])
    )
    rng = np.random.default_rng(seed)
    wins = wins_matrix(size, Coded(a, b, score))
    while len(a) - known < budget:
        step = min(refit, budget - (len(a) - known))
        chosen = pairs[choose_pairs(wins, [None] * step, rng=rng, uniform_share=share)]
        first, second, outcome = _judge(truth, chosen, rng)
        a, b = np.concatenate([a, first]), np.concatenate([b, second])
        score = np.concatenate([score, outcome])
        coded = Coded(a, b, score)
        wins = wins_matrix(size, coded)
        if inversions(fit_wins(wins), truth) == 0:
            widest = _widest(coded, size, n_boot)
            if widest < target:
                return Run(len(a) - known, 0, widest, len(a) - known)
    coded = Coded(a, b, score)
    end = len(a) - known
    return Run(None, inversions(fit_wins(wins), truth), _widest(coded, size, n_boot), end)


def _known_pairs(size: int, known: int, seed: int) -> np.ndarray:
    """Return ``known`` pair indices drawn uniformly among the pairs without the middle model."""
    newcomer = size // 2
    old = [k for k, pair in enumerate(model_pairs(size)) if newcomer not in pair]
    rng = np.random.default_rng([seed, 1])
    return np.array(old, dtype=np.int64)[rng.integers(len(old), size=known)]


def _judge(
    truth: np.ndarray, chosen: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Judge each pair: shown in a random order, the first wins with the Bradley–Terry chance."""
    chosen = chosen.reshape(-1, 2)
    flip = rng.random(len(chosen)) < 0.5
    first = np.where(flip, chosen[:, 1], chosen[:, 0])
    second = np.where(flip, chosen[:, 0], chosen[:, 1])
    first_wins = 1 / (1 + np.exp(truth[second] - truth[first]))
    outcome = (rng.random(len(chosen)) < first_wins).astype(float)
    return first, second, outcome


def _widest(coded: Coded, size: int, n_boot: int) -> float:
    """Return the widest 95% bootstrap interval of the leaderboard, in Elo points."""
    stats = bootstrap_coded(size, coded, n_boot=n_boot, seed=0)
    widths = [(s.high - s.low) if s.high is not None else np.inf for s in stats]
    return float(max(widths)) * ELO_SCALE


def main() -> None:
    """Run both strategies over the seeds; print the table, then the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=8, help="Models compared.")
    parser.add_argument(
        "--gap", type=float, default=50.0, help="Elo points between neighbouring models."
    )
    parser.add_argument(
        "--target", type=float, default=70.0, help="Widest 95%% interval wanted, Elo points."
    )
    parser.add_argument("--seeds", type=int, default=30, help="Runs per strategy (seeds 0..).")
    parser.add_argument("--seed", type=int, default=0, help="First seed.")
    parser.add_argument("--refit", type=int, default=25, help="Judgments between refits.")
    parser.add_argument("--budget", type=int, default=10_000, help="Judgments at most per run.")
    parser.add_argument(
        "--uniform-share",
        type=float,
        default=UNIFORM_SHARE,
        help="Adaptive pairing's share of uniformly chosen pairs.",
    )
    parser.add_argument("--n-boot", type=int, default=200, help="Bootstrap resamples per check.")
    parser.add_argument(
        "--known",
        type=int,
        default=0,
        help="Judgments the leaderboard already has, without the middle model, which then joins.",
    )
    args = parser.parse_args()
    truth = true_strengths(args.models, args.gap)
    seeds = range(args.seed, args.seed + args.seeds)
    started = time.perf_counter()
    runs = {
        s: [
            simulate(
                s,
                truth=truth,
                seed=seed,
                target=args.target,
                refit=args.refit,
                budget=args.budget,
                uniform_share=args.uniform_share,
                n_boot=args.n_boot,
                known=args.known,
            )
            for seed in seeds
        ]
        for s in STRATEGIES
    }
    print(
        f"{args.models} models {args.gap:g} Elo apart; done when the ranking is right and the "
        f"widest 95% interval < {args.target:g} Elo; refit every {args.refit}; "
        f"{args.seeds} seeds; adaptive uniform share {args.uniform_share:g}"
        + (f"; one model joins {args.known} judgments in" if args.known else "")
    )
    print(f"{'seed':>6} " + " ".join(f"{s:>10}" for s in STRATEGIES))
    for k, seed in enumerate(seeds):
        print(f"{seed:>6} " + " ".join(f"{_shown(runs[s][k].needed):>10}" for s in STRATEGIES))
    summary = {s: _summary(runs[s], args.budget) for s in STRATEGIES}
    for key in ("mean", "median", "fewest", "most"):
        print(f"{key:>6} " + " ".join(f"{summary[s][key]:>10.0f}" for s in STRATEGIES))
    ratio = summary["adaptive"]["mean"] / summary["uniform"]["mean"]
    print(f"adaptive needed {ratio:.0%} of uniform's judgments on average")
    print(f"({time.perf_counter() - started:.0f} s)")
    print(json.dumps({**summary, "adaptive_over_uniform": round(ratio, 3)}))


def _shown(needed: int | None) -> str:
    return "-" if needed is None else str(needed)


def _summary(runs: list[Run], budget: int) -> dict[str, float | int | list[int | None]]:
    """Mean and median judgments needed, a run that never got there counted at the budget."""
    needed = [r.needed if r.needed is not None else budget for r in runs]
    return {
        "mean": statistics.fmean(needed),
        "median": statistics.median(needed),
        "fewest": min(needed),
        "most": max(needed),
        "per_seed": [r.needed for r in runs],
        "not_reached": sum(r.needed is None for r in runs),
    }


if __name__ == "__main__":
    main()
