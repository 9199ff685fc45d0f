"""The helpers added for the dashboards: vectorised coding, stacked reliability data, the
cluster bootstrap, per-item agreement and W, and vectorised position bias."""

from __future__ import annotations

import numpy as np
import pytest

from service.stats.agreement import (
    bootstrap_ci,
    code_arrays,
    code_triples,
    cohen_kappa_matrix,
    cohen_kappa_matrix_from_codes,
    item_agreement,
    kendall_w,
    kendall_w_per_item,
    krippendorff_alpha,
    krippendorff_alpha_of_counts,
    label_counts,
    percent_agreement,
    reliability_data,
    stacked_reliability_data,
    value_counts,
)
from service.stats.rater_quality import (
    leave_one_out_agreement,
    leave_one_out_from_codes,
    position_bias,
    position_bias_many,
)
from service.stats.resampling import bootstrap_variants, distinct_rows


def _random_triples(seed: int, n: int = 400) -> list[tuple[int, int, float]]:
    rng = np.random.default_rng(seed)
    items = rng.integers(0, 60, n)
    raters = rng.integers(0, 12, n)
    labels = rng.integers(1, 5, n).astype(float)
    labels[rng.random(n) < 0.05] = np.nan  # missing labels are skipped
    return list(zip(items.tolist(), raters.tolist(), labels.tolist(), strict=True))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_code_arrays_equals_code_triples(seed: int) -> None:
    triples = _random_triples(seed)  # with repeats: the last label of a pair wins in both
    a = code_arrays(*map(np.array, zip(*triples, strict=True)))
    b = code_triples(triples)
    assert (a.items, a.raters, a.labels) == (b.items, b.raters, b.labels)
    as_set = lambda c: {  # noqa: E731
        (c.items[i], c.raters[r], c.labels[v])
        for i, r, v in zip(c.item, c.rater, c.label, strict=True)
    }
    assert as_set(a) == as_set(b)
    assert (label_counts(a) == label_counts(b)).all()


def test_code_arrays_refuses_ragged_input() -> None:
    with pytest.raises(ValueError, match="one length"):
        code_arrays(np.array([1, 2]), np.array([1]), np.array([1.0, 2.0]))


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_stacked_reliability_data_gives_the_same_alpha(level: str) -> None:
    codes = code_triples(_random_triples(5))
    full, stacked = reliability_data(codes), stacked_reliability_data(codes)
    assert stacked.shape[0] < full.shape[0] and stacked.shape[1] == full.shape[1]
    # Same values per item, so the same alpha and the same bootstrap.
    assert krippendorff_alpha(stacked, level).value == pytest.approx(
        krippendorff_alpha(full, level).value
    )
    assert bootstrap_ci(krippendorff_alpha, stacked, level=level, n_boot=200) == pytest.approx(
        bootstrap_ci(krippendorff_alpha, full, level=level, n_boot=200)
    )


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_alpha_of_value_counts_equals_alpha_of_reliability_data(level: str) -> None:
    codes = code_triples(_random_triples(6))
    counts = value_counts(codes)
    assert np.array_equal(counts.counts, label_counts(codes))
    # Exactly the same figures, bootstrap included: the dashboards switched to counts.
    data = stacked_reliability_data(codes)
    clusters = np.array(codes.items) // 3
    assert krippendorff_alpha_of_counts(counts, level) == krippendorff_alpha(data, level)
    assert bootstrap_ci(
        krippendorff_alpha_of_counts, counts, level=level, n_boot=200, clusters=clusters
    ) == bootstrap_ci(krippendorff_alpha, data, level=level, n_boot=200, clusters=clusters)


def test_alpha_of_value_counts_refuses_an_unknown_level() -> None:
    with pytest.raises(ValueError, match="level"):
        krippendorff_alpha_of_counts(value_counts(code_triples(_random_triples(1))), "cardinal")  # type: ignore[arg-type]


def test_one_unit_per_cluster_is_the_plain_bootstrap() -> None:
    counts = label_counts(code_triples(_random_triples(3)))
    plain = bootstrap_ci(percent_agreement, counts, n_boot=300, seed=4)
    clustered = bootstrap_ci(
        percent_agreement, counts, n_boot=300, seed=4, clusters=np.arange(len(counts))
    )
    assert clustered == plain


def test_clusters_resample_units_together() -> None:
    # Two units per item that always agree with each other: resampling them together keeps
    # every resample's agreement on the values the items have, and the interval is wider
    # than treating the 40 units as independent.
    rng = np.random.default_rng(0)
    per_item = rng.integers(0, 2, size=20)
    counts = np.array([[3, 0] if v else [1, 2] for v in np.repeat(per_item, 2)])
    clusters = np.repeat(np.arange(20), 2)
    together = bootstrap_ci(percent_agreement, counts, n_boot=2000, seed=1, clusters=clusters)
    apart = bootstrap_ci(percent_agreement, counts, n_boot=2000, seed=1)
    assert together.value == apart.value
    assert together.high - together.low > apart.high - apart.low


def test_cluster_bootstrap_of_a_plain_function_loops_over_clusters() -> None:
    values = np.array([1.0, 1.0, 5.0, 5.0, 3.0, 3.0])
    result = bootstrap_ci(
        lambda x: float(np.mean(x)), values, n_boot=300, seed=0, clusters=[0, 0, 1, 1, 2, 2]
    )
    assert result.value == 3.0 and 1.0 <= result.low < 3.0 < result.high <= 5.0


def test_clusters_must_name_every_unit() -> None:
    with pytest.raises(ValueError, match="every unit"):
        bootstrap_ci(percent_agreement, np.array([[2, 0], [1, 1], [0, 2]]), clusters=[0, 0])


def test_item_agreement_is_fleiss_p_i() -> None:
    counts = np.array([[3, 0, 0], [2, 1, 0], [1, 1, 1], [1, 0, 0]])
    assert item_agreement(counts)[:3] == pytest.approx([1.0, 1 / 3, 0.0])
    assert np.isnan(item_agreement(counts)[3])  # one rating: no pair


def test_kendall_w_per_item_equals_kendall_w() -> None:
    rng = np.random.default_rng(7)
    items = [rng.integers(1, 4, size=(rng.integers(1, 5), rng.integers(2, 5))) for _ in range(30)]
    expected = [kendall_w(x).value for x in items]
    got = kendall_w_per_item(items)
    for e, g in zip(expected, got, strict=True):
        assert (e is None and np.isnan(g)) or e == pytest.approx(g)


def test_coded_variants_equal_the_triple_ones() -> None:
    triples = _random_triples(9)
    codes = code_triples(triples)
    assert cohen_kappa_matrix_from_codes(codes) == cohen_kappa_matrix(triples)
    assert leave_one_out_from_codes(codes) == leave_one_out_agreement(triples)


def test_position_bias_many_equals_binomtest() -> None:
    rng = np.random.default_rng(3)
    decided = np.concatenate([[0, 1, 2, 7, 1000], rng.integers(1, 300, 200)])
    left = np.minimum((rng.random(len(decided)) * (decided + 1)).astype(int), decided)
    for k, n, many in zip(left, decided, position_bias_many(left, decided), strict=True):
        one = position_bias(int(k), int(n))
        if one.value is None:
            assert many == one
            continue
        assert (many.value, many.n) == (one.value, one.n)
        assert (many.low, many.high, many.p_value) == pytest.approx(
            (one.low, one.high, one.p_value), abs=1e-10
        )


def test_position_bias_many_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError):
        position_bias_many([5], [3])


def test_bootstrap_variants_share_resamples_and_equal_separate_calls() -> None:
    codes = code_triples(_random_triples(11))
    data = stacked_reliability_data(codes)
    clusters = np.array(codes.items) // 2  # two units per cluster
    variants = [{"level": "ordinal"}, {"level": "interval"}, {"level": "nominal"}]
    shared = bootstrap_variants(krippendorff_alpha, data, variants, n_boot=300, clusters=clusters)
    separate = [
        bootstrap_ci(krippendorff_alpha, data, n_boot=300, clusters=clusters, **v) for v in variants
    ]
    assert shared == separate


def test_bootstrap_variants_of_value_counts_equal_separate_calls() -> None:
    codes = code_triples(_random_triples(12))
    counts = value_counts(codes)
    clusters = np.array(codes.items) // 2
    variants = [{"level": "ordinal"}, {"level": "interval"}]
    shared = bootstrap_variants(
        krippendorff_alpha_of_counts, counts, variants, n_boot=300, clusters=clusters
    )
    separate = [
        bootstrap_ci(krippendorff_alpha_of_counts, counts, n_boot=300, clusters=clusters, **v)
        for v in variants
    ]
    assert shared == separate


def test_bootstrap_variants_of_an_unregistered_statistic() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0])
    got = bootstrap_variants(lambda x, k: float(np.mean(x) * k), values, [{"k": 1}, {"k": 2}])
    assert [s.value for s in got] == [2.5, 5.0]


@pytest.mark.parametrize("width", [3, 12, 140])
def test_distinct_rows_equals_numpy_unique(width: int) -> None:
    rng = np.random.default_rng(width)
    terms = rng.integers(-2, 3, size=(3000, width)).astype(float) / 2
    terms[::7] = terms[1]  # plenty of repeats
    rows, counts = distinct_rows(terms)
    expected_rows, expected_counts = np.unique(terms, axis=0, return_counts=True)
    assert np.array_equal(rows, expected_rows) and np.array_equal(counts, expected_counts)
