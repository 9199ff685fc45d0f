"""Agreement statistics against published worked examples and reference implementations."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import krippendorff
import numpy as np
import pytest

from service.stats.agreement import (
    Stat,
    bootstrap_ci,
    code_triples,
    cohen_kappa,
    cohen_kappa_matrix,
    fleiss_kappa,
    kendall_w,
    kendall_w_overall,
    krippendorff_alpha,
    label_counts,
    mean_kendall_tau,
    mean_kendall_tau_overall,
    percent_agreement,
    reliability_data,
    resample_sums,
)

# scipy.stats is imported by the tests that use it: ~0.6 s less at collection, in every worker.

nan = np.nan

# Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters, 5 categories.
# Published: P-bar = 0.378, P_e = 0.213, kappa = 0.210.
WIKIPEDIA_FLEISS = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]

# Fleiss (1971): 30 patients, 6 psychiatrists, 5 diagnoses (one string per patient), as
# shipped in R irr as `diagnoses`; Fleiss reports kappa = .430, as does irr::kappam.fleiss.
FLEISS_1971 = [
    "444444",
    "222555",
    "233335",
    "555555",
    "222444",
    "113333",
    "333355",
    "113334",
    "114444",
    "555555",
    "144444",
    "124444",
    "222333",
    "144444",
    "224445",
    "333335",
    "111455",
    "111112",
    "224444",
    "133555",
    "555555",
    "244444",
    "224555",
    "114444",
    "144445",
    "222224",
    "111155",
    "224444",
    "133333",
    "555555",
]

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", reliability data with
# missing values: 4 observers x 12 units. Published: nominal .743, ordinal .815,
# interval .849, ratio .797.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
    [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
]

# R irr package (Gamer et al.), kendall() examples. Without ties, 3 raters rank 6 subjects:
# W = 0.568. With ties, the `anxiety` data (20 subjects, 3 raters): kendall(anxiety, TRUE)
# gives Wt = 0.54, Chisq(19) = 30.8, p = 0.0429. Rows here are raters, columns objects.
IRR_RANKS = [[1, 6, 3, 2, 5, 4], [1, 5, 6, 2, 4, 3], [2, 3, 6, 5, 4, 1]]
IRR_ANXIETY = [
    [3, 3, 3, 4, 5, 5, 2, 3, 5, 2, 2, 6, 1, 5, 2, 2, 1, 2, 4, 3],
    [3, 6, 4, 6, 2, 4, 2, 4, 3, 3, 2, 3, 3, 3, 2, 2, 1, 3, 3, 4],
    [2, 1, 4, 4, 3, 2, 1, 6, 1, 1, 1, 2, 3, 3, 1, 1, 3, 3, 2, 2],
]


def _fleiss_1971_triples() -> list[tuple[int, int, str]]:
    return [
        (patient, rater, diagnosis)
        for patient, row in enumerate(FLEISS_1971)
        for rater, diagnosis in enumerate(row)
    ]


def _random_reliability(seed: int, raters: int = 5, items: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 6, size=items)
    data = np.clip(truth + rng.integers(-1, 2, size=(raters, items)), 1, 5).astype(float)
    data[rng.random(data.shape) < 0.3] = np.nan
    return data


# --- Fleiss and percent agreement --------------------------------------------------------------


def test_fleiss_kappa_wikipedia_example() -> None:
    stat = fleiss_kappa(WIKIPEDIA_FLEISS)
    assert stat.value == pytest.approx(0.20993, abs=1e-5)
    assert stat.n == 10
    assert stat.reason is None


def test_percent_agreement_is_fleiss_p_bar() -> None:
    assert percent_agreement(WIKIPEDIA_FLEISS).value == pytest.approx(0.378022, abs=1e-6)


def test_fleiss_kappa_fleiss_1971_from_triples() -> None:
    codes = code_triples(_fleiss_1971_triples())
    counts = label_counts(codes)
    assert counts.shape == (30, 5)
    assert fleiss_kappa(counts).value == pytest.approx(0.430, abs=5e-4)


def test_fleiss_kappa_ignores_items_with_one_rating() -> None:
    with_singletons = [*WIKIPEDIA_FLEISS, [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]]
    assert fleiss_kappa(with_singletons) == fleiss_kappa(WIKIPEDIA_FLEISS)


def test_percent_agreement_of_two_raters_is_share_of_items_agreed() -> None:
    # Two raters agree on 2 of 3 items.
    assert percent_agreement([[2, 0], [1, 1], [0, 2]]).value == pytest.approx(2 / 3)


# --- Cohen -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yes_yes", "yes_no", "no_yes", "no_no", "expected"),
    [
        # Wikipedia, "Cohen's kappa": 50 grant proposals, p_o = 0.7, p_e = 0.5.
        (20, 5, 10, 15, 0.4),
        # Wikipedia: same 60% agreement, different marginals.
        (45, 15, 25, 15, 0.06 / 0.46),
        (25, 35, 5, 35, 0.14 / 0.54),
    ],
)
def test_cohen_kappa_two_by_two(
    yes_yes: int, yes_no: int, no_yes: int, no_no: int, expected: float
) -> None:
    a = ["yes"] * (yes_yes + yes_no) + ["no"] * (no_yes + no_no)
    b = ["yes"] * yes_yes + ["no"] * yes_no + ["yes"] * no_yes + ["no"] * no_no
    stat = cohen_kappa(a, b)
    assert stat.value == pytest.approx(expected, abs=1e-12)
    assert stat.n == yes_yes + yes_no + no_yes + no_no


def test_cohen_kappa_skips_missing_labels() -> None:
    a = ["yes"] * 25 + ["no"] * 25 + [None, "yes", nan]
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15 + ["yes", None, "no"]
    assert cohen_kappa(a, b).value == pytest.approx(0.4)
    assert cohen_kappa(a, b).n == 50


def test_cohen_kappa_matrix_matches_pairwise_cohen() -> None:
    rng = np.random.default_rng(7)
    triples = [
        (item, rater, str(rng.integers(3)))
        for item in range(60)
        for rater in rng.choice(6, size=3, replace=False)
    ]
    matrix = cohen_kappa_matrix(triples)
    labels = {(i, r): v for i, r, v in triples}
    for a in range(6):
        for b in range(a + 1, 6):
            la = [labels.get((i, a)) for i in range(60)]
            lb = [labels.get((i, b)) for i in range(60)]
            assert matrix[a][b] == cohen_kappa(la, lb)
            assert matrix[b][a] is matrix[a][b]
            assert matrix[a][b].value is not None


def test_cohen_kappa_matrix_marks_pairs_with_too_little_overlap() -> None:
    triples = [(1, "r1", "A"), (1, "r2", "A"), (2, "r1", "B"), (2, "r2", "A"), (3, "r3", "A")]
    matrix = cohen_kappa_matrix(triples)
    assert matrix["r1"]["r2"].value == pytest.approx(0.0)
    assert matrix["r1"]["r3"].value is None
    assert matrix["r1"]["r3"].reason == "not enough data: fewer than 2 shared items"
    assert "r1" not in matrix["r1"]


def test_later_label_supersedes_earlier() -> None:
    codes = code_triples([(1, "r", "A"), (1, "r", "B")])
    assert [codes.labels[k] for k in codes.label] == ["B"]


# --- Krippendorff ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "expected"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_krippendorff_2011_example(level: str, expected: float) -> None:
    stat = krippendorff_alpha(KRIPPENDORFF_2011, level)
    assert stat.value == pytest.approx(expected, abs=5e-4)
    assert stat.n == 11  # the last unit has one value only


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_krippendorff_matches_package_on_random_data(level: str, seed: int) -> None:
    data = _random_reliability(seed)
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    assert krippendorff_alpha(data, level).value == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_krippendorff_vectorised_bootstrap_equals_package_per_resample(level: str) -> None:
    # The vectorised path recomputes alpha from resampled per-item coincidence matrices; the
    # wrapped lambda forces one krippendorff-package call per resample on the same draws
    # (both draw the resampled item indices from the same seeded stream).
    data = _random_reliability(4)
    fast = bootstrap_ci(krippendorff_alpha, data, level=level, n_boot=200, seed=3)
    slow = bootstrap_ci(lambda d: krippendorff_alpha(d.T, level), data.T.copy(), n_boot=200, seed=3)
    assert fast.low == pytest.approx(slow.low, abs=1e-12)
    assert fast.high == pytest.approx(slow.high, abs=1e-12)
    assert fast.low < fast.value < fast.high


def test_reliability_data_builds_raters_by_items() -> None:
    codes = code_triples([("i1", "a", 1), ("i1", "b", 2), ("i2", "b", 3)])
    np.testing.assert_array_equal(reliability_data(codes), [[1, nan], [2, 3]])


def test_krippendorff_rejects_unknown_level() -> None:
    with pytest.raises(ValueError, match="level"):
        krippendorff_alpha(KRIPPENDORFF_2011, "cardinal")  # type: ignore[arg-type]


# --- Kendall's W and tau -----------------------------------------------------------------------


def test_kendall_w_without_ties() -> None:
    stat = kendall_w(IRR_RANKS)
    assert stat.value == pytest.approx(0.568, abs=5e-4)
    assert stat.value == pytest.approx(12 * 89.5 / (9 * 210))  # S = 89.5 by hand
    assert stat.n == 3


def test_kendall_w_with_ties_is_corrected() -> None:
    from scipy.stats import chi2

    stat = kendall_w(IRR_ANXIETY)
    assert stat.value == pytest.approx(0.54, abs=5e-3)
    # irr reports Chisq(19) = 30.8, p = 0.0429 for m(n-1)W; the p-value pins W to ~4 digits.
    assert 3 * 19 * stat.value == pytest.approx(30.8, abs=0.05)
    assert chi2.sf(3 * 19 * stat.value, 19) == pytest.approx(0.0429, abs=5e-5)


def test_kendall_w_ranks_raw_scores_and_drops_incomplete_rows() -> None:
    scores = [[10, 60, 30, 20, 50, 40], [0.1, 0.5, 0.6, 0.2, 0.4, 0.3], [2, 3, 6, 5, 4, 1]]
    assert kendall_w(scores).value == pytest.approx(kendall_w(IRR_RANKS).value)
    with_gap = [*IRR_RANKS, [1, nan, 2, 3, 4, 5]]
    assert kendall_w(with_gap) == kendall_w(IRR_RANKS)


def test_kendall_w_overall_is_mean_of_items() -> None:
    items = [IRR_RANKS, IRR_ANXIETY, [[1, 2]]]  # the last has one rater: skipped
    stat = kendall_w_overall(items)
    expected = (kendall_w(IRR_RANKS).value + kendall_w(IRR_ANXIETY).value) / 2
    assert stat.value == pytest.approx(expected)
    assert stat.n == 2


def test_mean_kendall_tau_matches_scipy_with_ties() -> None:
    from scipy.stats import kendalltau

    rng = np.random.default_rng(11)
    items = [rng.integers(0, 4, size=(int(rng.integers(2, 6)), 5)) for _ in range(50)]
    expected = []
    for ranks in items:
        taus = [
            kendalltau(ranks[a], ranks[b]).statistic
            for a in range(len(ranks))
            for b in range(a + 1, len(ranks))
        ]
        taus = [t for t in taus if not math.isnan(t)]
        stat = mean_kendall_tau(ranks)
        if taus:
            assert stat.value == pytest.approx(np.mean(taus), abs=1e-12)
            assert stat.n == len(taus)
            expected.append(np.mean(taus))
        else:
            assert stat.value is None
    assert mean_kendall_tau_overall(items).value == pytest.approx(np.mean(expected), abs=1e-12)


# --- bootstrap ---------------------------------------------------------------------------------


def test_bootstrap_is_seeded_and_brackets_the_value() -> None:
    first = bootstrap_ci(fleiss_kappa, WIKIPEDIA_FLEISS, n_boot=500, seed=5)
    assert first == bootstrap_ci(fleiss_kappa, WIKIPEDIA_FLEISS, n_boot=500, seed=5)
    assert first.value == fleiss_kappa(WIKIPEDIA_FLEISS).value
    assert first.low < first.value < first.high


@pytest.mark.parametrize(
    ("stat_fn", "units"),
    [
        (fleiss_kappa, np.array(WIKIPEDIA_FLEISS)),
        (percent_agreement, np.array(WIKIPEDIA_FLEISS)),
        (kendall_w_overall, [np.array(IRR_RANKS)[:, k : k + 3] for k in range(4)]),
        (mean_kendall_tau_overall, [np.array(IRR_ANXIETY)[:, k : k + 4] for k in range(16)]),
    ],
)
def test_vectorised_bootstrap_equals_looping_over_resamples(
    stat_fn: Callable[..., Stat], units: Any
) -> None:
    fast = bootstrap_ci(stat_fn, units, n_boot=300, seed=9)
    slow = bootstrap_ci(lambda u: stat_fn(u), units, n_boot=300, seed=9)
    assert (fast.low, fast.high) == pytest.approx((slow.low, slow.high), abs=1e-12)


def test_resample_sums_multinomial_shortcut_has_bootstrap_moments() -> None:
    # 3 distinct rows among 3000 takes the multinomial route; each resampled sum of n rows
    # has mean n * mean(row) and variance n * var(row).
    terms = np.repeat([[0.0], [1.0], [3.0]], [1000, 1500, 500], axis=0)
    sums = resample_sums(terms, 4000, np.random.default_rng(0))[:, 0]
    assert sums.mean() == pytest.approx(3000 * terms.mean(), rel=2e-3)
    assert sums.var() == pytest.approx(3000 * terms.var(), rel=0.1)


def test_bootstrap_of_a_plain_float_function() -> None:
    stat = bootstrap_ci(lambda u: float(np.mean(u)), np.arange(100.0), n_boot=400, seed=1)
    assert stat.value == pytest.approx(49.5)
    assert 40 < stat.low < 49.5 < stat.high < 59


# --- degenerate input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        (lambda: fleiss_kappa([]), "not enough data: no item has 2 or more ratings"),
        (lambda: fleiss_kappa([[1, 0], [0, 1]]), "not enough data: no item has 2 or more ratings"),
        (lambda: fleiss_kappa([[3, 0], [2, 0]]), "no variance: every rating is the same"),
        (lambda: percent_agreement([[1, 0, 0]]), "not enough data: no item has 2 or more ratings"),
        (lambda: krippendorff_alpha([]), "not enough data: no item has 2 or more ratings"),
        (lambda: krippendorff_alpha([[1, 2, 3]]), "not enough data: no item has 2 or more ratings"),
        (lambda: krippendorff_alpha([[1, nan], [nan, 2]]), "not enough data"),
        (lambda: krippendorff_alpha([[2, 2], [2, 2]], "interval"), "no variance"),
        (lambda: krippendorff_alpha([[1, 2], [1, 2]], "ratio"), None),
        (lambda: krippendorff_alpha([[nan, nan], [nan, nan]]), "not enough data"),
        (lambda: cohen_kappa([], []), "not enough data: fewer than 2 shared items"),
        (lambda: cohen_kappa(["A"], ["A"]), "not enough data: fewer than 2 shared items"),
        (lambda: cohen_kappa(["A", "A"], ["A", "A"]), "no variance"),
        (lambda: kendall_w([]), "not enough data: fewer than 2 complete rankings"),
        (lambda: kendall_w([[1, 2, 3]]), "not enough data: fewer than 2 complete rankings"),
        (lambda: kendall_w([[1], [1]]), "not enough data: fewer than 2 objects ranked"),
        (lambda: kendall_w([[1, 1], [2, 2]]), "no variance: every rater tied every object"),
        (lambda: mean_kendall_tau([[1, 1], [1, 2]]), "no variance"),
        (lambda: kendall_w_overall([]), "not enough data"),
        (lambda: mean_kendall_tau_overall([[[1, 2]]]), "not enough data"),
    ],
)
def test_degenerate_input_gives_a_reason_not_nan(
    result: Callable[[], Stat], reason: str | None
) -> None:
    stat = result()
    assert isinstance(stat, Stat)
    if reason is None:
        assert stat.value is not None and math.isfinite(stat.value)
        return
    assert stat.value is None
    assert stat.reason is not None and stat.reason.startswith(reason)


def test_bootstrap_of_a_missing_value_stays_missing() -> None:
    stat = bootstrap_ci(fleiss_kappa, [[2, 0], [3, 0]], n_boot=100)
    assert stat.value is None and stat.low is None and stat.reason is not None


def test_bootstrap_drops_resamples_where_the_statistic_is_undefined() -> None:
    # Two items: resamples of only the first have one category and no kappa.
    stat = bootstrap_ci(fleiss_kappa, [[2, 0], [1, 1]], n_boot=200, seed=2)
    assert stat.value is not None
    assert stat.low is not None and math.isfinite(stat.low) and math.isfinite(stat.high)
