"""Tests for psychoml.stats.factor: KMO, Bartlett, EFA, parallel analysis, MAP, scree.

Golden numbers come from tests/reference/factor/make_reference.R (psych 2.2.9,
GPArotation 2022.10-2) run on the CSVs next to it, so R and Python read the same data.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from psychoml.errors import DataError
from psychoml.stats.factor import (
    bartlett_sphericity,
    efa,
    kmo,
    parallel_analysis,
    scree,
    velicer_map,
)

REF = Path(__file__).parent / "reference" / "factor"
EFA_REF = json.loads((REF / "efa_reference.json").read_text())
HS = pd.read_csv(REF / "hs1939.csv")
HS9 = HS[[f"x{i}" for i in range(1, 10)]]
BFI = pd.read_csv(REF / "bfi25.csv")
DATA = {"hs": HS9, "bfi": BFI}
R_ROTATION = {"geominQ": "geomin"}  # psych's name -> ours


def _align(ours: np.ndarray, ref: np.ndarray) -> tuple[tuple[int, ...], np.ndarray]:
    """Column permutation and signs of ``ours`` that best match ``ref`` (factor order/sign are arbitrary)."""
    best = None
    for perm in itertools.permutations(range(ours.shape[1])):
        cand = ours[:, perm]
        signs = np.where(np.sum(cand * ref, axis=0) < 0, -1.0, 1.0)
        err = float(np.max(np.abs(cand * signs - ref)))
        if best is None or err < best[0]:
            best = (err, perm, signs)
    assert best is not None
    return best[1], best[2]


# --------------------------------------------------------------------------- KMO and Bartlett


@pytest.mark.parametrize("dataset", ["hs", "bfi"])
def test_kmo_matches_psych(dataset: str) -> None:
    ref = EFA_REF["kmo_bartlett"][dataset]
    res = kmo(DATA[dataset])
    # closed form on the same pairwise correlations: agreement to rounding error
    assert res.msa == pytest.approx(ref["msa"], abs=1e-10)
    expected = pd.Series(ref["msa_items"])
    np.testing.assert_allclose(res.msa_items[expected.index].to_numpy(), expected.to_numpy(), atol=1e-10)
    assert res.to_frame().loc["overall", "msa"] == pytest.approx(ref["msa"])


@pytest.mark.parametrize("dataset", ["hs", "bfi"])
def test_bartlett_matches_psych(dataset: str) -> None:
    ref = EFA_REF["kmo_bartlett"][dataset]
    res = bartlett_sphericity(DATA[dataset])
    # closed form; relative 1e-10 covers log-determinant rounding
    assert res.chisq == pytest.approx(ref["chisq"], rel=1e-10)
    assert res.df == ref["df"]
    assert res.n_obs == ref["n"]
    assert res.p_value == pytest.approx(ref["p_value"], rel=1e-6, abs=1e-300)


# --------------------------------------------------------------------------- EFA vs psych::fa

EFA_CASES = [(e["dataset"], e["fm"], e["rotate"]) for e in EFA_REF["efa"]]


@pytest.mark.parametrize(("dataset", "fm", "rotate"), EFA_CASES, ids=["-".join(c) for c in EFA_CASES])
def test_efa_matches_psych_fa(dataset: str, fm: str, rotate: str) -> None:
    ref = next(e for e in EFA_REF["efa"] if (e["dataset"], e["fm"], e["rotate"]) == (dataset, fm, rotate))
    res = efa(DATA[dataset], ref["nfactors"], method=fm, rotation=R_ROTATION.get(rotate, rotate))
    expected = np.array(ref["loadings"]["values"])
    assert list(res.loadings.index) == ref["loadings"]["rownames"]
    perm, signs = _align(res.loadings.to_numpy(), expected)
    # psych's optimizer (R's L-BFGS-B, same start/bounds/stopping rule) and the
    # GPArotation algorithms are replicated step by step, so agreement is at
    # rounding level here; 1e-4 (10x stricter than the 1e-3) leaves room
    # for a different LAPACK taking one more or one fewer optimizer step.
    np.testing.assert_allclose(res.loadings.to_numpy()[:, perm] * signs, expected, atol=1e-4)
    np.testing.assert_allclose(res.communalities.to_numpy(), ref["communality"], atol=1e-4)
    np.testing.assert_allclose(res.uniquenesses.to_numpy(), ref["uniquenesses"], atol=1e-4)
    np.testing.assert_allclose(res.common_factor_eigenvalues, ref["values"], atol=1e-4)
    np.testing.assert_allclose(res.eigenvalues, ref["e_values"], atol=1e-10)
    if ref["phi"] is None:
        np.testing.assert_allclose(res.factor_correlations.to_numpy(), np.eye(ref["nfactors"]), atol=1e-12)
    else:
        phi = res.factor_correlations.to_numpy()[np.ix_(perm, perm)] * np.outer(signs, signs)
        np.testing.assert_allclose(phi, np.array(ref["phi"]["values"]), atol=1e-4)
    assert res.converged


def test_efa_uses_psych_column_names_and_order() -> None:
    ref = next(e for e in EFA_REF["efa"] if (e["dataset"], e["fm"], e["rotate"]) == ("bfi", "minres", "oblimin"))
    res = efa(BFI, 5)
    assert list(res.loadings.columns) == ref["loadings"]["colnames"]
    assert list(res.factor_correlations.columns) == ref["loadings"]["colnames"]


@pytest.mark.parametrize("rotation", ["oblimin", "varimax", "promax", "geomin", None])
def test_rotation_preserves_communalities(rotation: str | None) -> None:
    # A rotation re-expresses the same common-factor model: diag(L Phi L') = h2.
    res = efa(HS9, 3, rotation=rotation)
    L, phi = res.loadings.to_numpy(), res.factor_correlations.to_numpy()
    np.testing.assert_allclose(np.diag(L @ phi @ L.T), res.communalities.to_numpy(), atol=1e-8)
    np.testing.assert_allclose(np.diag(phi), 1.0, atol=1e-10)
    np.testing.assert_allclose(res.structure.to_numpy(), L @ phi, atol=1e-12)


def test_efa_result_frame_and_variance_table() -> None:
    res = efa(HS9, 3, method="ml", rotation="varimax")
    frame = res.to_frame()
    assert list(frame.columns) == [*res.loadings.columns, "h2", "u2"]
    np.testing.assert_allclose(frame["h2"] + frame["u2"], 1.0)
    ss = (res.loadings**2).sum(axis=0).to_numpy()
    np.testing.assert_allclose(res.variance.loc["ss_loadings"].to_numpy(), ss, atol=1e-10)
    assert np.all(np.diff(ss) <= 1e-12)  # ordered by variance accounted for, as psych
    assert res.n_obs == len(HS9) and res.n_factors == 3 and res.rotation == "varimax"
    assert "EFAResult(" in repr(res)


def test_efa_single_factor_is_unrotated() -> None:
    res = efa(HS9[["x4", "x5", "x6"]], 1)
    assert res.loadings.shape == (3, 1)
    assert (res.loadings.to_numpy() > 0).all()


def test_efa_listwise_differs_from_pairwise_only_with_missing_values() -> None:
    np.testing.assert_allclose(
        efa(HS9, 3, missing="listwise").loadings.to_numpy(), efa(HS9, 3).loadings.to_numpy(), atol=1e-12
    )
    assert efa(BFI, 5, missing="listwise").n_obs == len(BFI.dropna())


@settings(max_examples=15, deadline=None)
@given(
    scales=st.lists(st.floats(0.1, 50.0), min_size=9, max_size=9),
    shifts=st.lists(st.floats(-100.0, 100.0), min_size=9, max_size=9),
)
def test_efa_invariant_to_linear_rescaling_of_items(scales: list[float], shifts: list[float]) -> None:
    # EFA of correlations cannot depend on the units or origin of the items.
    base = efa(HS9, 3)
    moved = efa(HS9 * np.array(scales) + np.array(shifts), 3)
    np.testing.assert_allclose(moved.loadings.to_numpy(), base.loadings.to_numpy(), atol=1e-6)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_kmo_and_bartlett_ranges_on_simulated_factor_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    f = rng.standard_normal((300, 2))
    x = f @ rng.uniform(0.3, 0.9, (2, 8)) + rng.standard_normal((300, 8))
    res = kmo(x)
    assert 0.0 <= res.msa <= 1.0
    assert ((res.msa_items >= 0) & (res.msa_items <= 1)).all()
    assert bartlett_sphericity(x).chisq > 0


# --------------------------------------------------------------------------- number of factors


@pytest.mark.parametrize(
    ("dataset", "method"), [("hs", "simulated"), ("hs", "resampled"), ("bfi", "simulated"), ("bfi", "resampled")]
)
def test_parallel_analysis_chooses_as_fa_parallel(dataset: str, method: str) -> None:
    ref = next(p for p in EFA_REF["parallel"] if p["dataset"] == dataset and p["method"] == method)
    # R chose the same number under 5 seeds, so the choice is a property of the data,
    # not of R's random draws; ours must agree.
    assert len(set(ref["nfact"])) == 1 and len(set(ref["ncomp"])) == 1
    res = parallel_analysis(DATA[dataset], method=method, n_iter=20, seed=1)
    assert res.n_factors == ref["nfact"][0]
    assert res.n_components == ref["ncomp"][0]
    # observed eigenvalues are deterministic: equal to psych's fa.values / pc.values
    np.testing.assert_allclose(res.table["fa_observed"].to_numpy(), ref["fa_values"], atol=1e-6)
    np.testing.assert_allclose(res.table["pc_observed"].to_numpy(), ref["pc_values"], atol=1e-10)


def test_parallel_analysis_is_reproducible_with_a_seed() -> None:
    a = parallel_analysis(HS9, n_iter=5, seed=7)
    b = parallel_analysis(HS9, n_iter=5, seed=7)
    c = parallel_analysis(HS9, n_iter=5, seed=8)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert not np.allclose(a.table["fa_threshold"], c.table["fa_threshold"])
    assert list(a.to_frame().columns) == [
        "pc_observed",
        "pc_random_mean",
        "pc_threshold",
        "fa_observed",
        "fa_random_mean",
        "fa_threshold",
    ]


def test_parallel_analysis_finds_no_factor_in_noise() -> None:
    noise = np.random.default_rng(3).standard_normal((400, 8))
    res = parallel_analysis(noise, n_iter=10, seed=3)
    assert res.n_factors == 0 and res.n_components == 0


@pytest.mark.parametrize("dataset", ["hs", "bfi"])
def test_velicer_map_matches_psych_vss(dataset: str) -> None:
    ref = EFA_REF["map"][dataset]
    res = velicer_map(DATA[dataset], max_factors=8)
    # closed form (eigen-decomposition and partial correlations): rounding level
    np.testing.assert_allclose(res.map.to_numpy(), ref["map"], atol=1e-9)
    assert res.n_factors == ref["n_factors"]


def test_scree_matches_fa_parallel_values() -> None:
    ref = next(p for p in EFA_REF["parallel"] if p["dataset"] == "bfi")
    table = scree(BFI).to_frame()
    np.testing.assert_allclose(table["pc_eigenvalue"].to_numpy(), ref["pc_values"], atol=1e-10)
    np.testing.assert_allclose(table["fa_eigenvalue"].to_numpy(), ref["fa_values"], atol=1e-6)
    assert list(table.index) == list(range(1, 26))


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("func", [kmo, bartlett_sphericity, lambda d: efa(d, 2), parallel_analysis, velicer_map, scree])
def test_non_numeric_column_is_named(func) -> None:
    with pytest.raises(DataError, match="non-numeric column.*'school'"):
        func(HS9.assign(school=HS["school"]))


@pytest.mark.parametrize("func", [kmo, bartlett_sphericity, lambda d: efa(d, 2), parallel_analysis, velicer_map, scree])
def test_constant_item_is_named(func) -> None:
    with pytest.raises(DataError, match="'flat'.*constant"):
        func(HS9.assign(flat=3.0))


@pytest.mark.parametrize("func", [kmo, bartlett_sphericity, lambda d: efa(d, 2), parallel_analysis, velicer_map, scree])
def test_fewer_observations_than_items(func) -> None:
    with pytest.raises(DataError, match=r"fewer observations \(6\) than items \(9\)"):
        func(HS9.head(6))


def test_singular_correlation_names_the_dependent_items() -> None:
    data = HS9.assign(total=HS9["x1"] + HS9["x2"])
    for call in (lambda: kmo(data), lambda: bartlett_sphericity(data), lambda: efa(data, 2, method="ml")):
        with pytest.raises(DataError, match="singular.*'total'"):
            call()


def test_items_never_observed_together() -> None:
    data = pd.DataFrame({"a": [1.0, 2, 3, 4, np.nan, np.nan, np.nan, np.nan], "b": [np.nan] * 4 + [1.0, 3, 2, 4]})
    data["c"] = [1.0, 2, 2, 3, 1, 3, 2, 1]
    with pytest.raises(DataError, match="'a'/'b'"):
        efa(data, 1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_factors": 0}, "n_factors: must be between 1 and 8"),
        ({"n_factors": 9}, "n_factors: must be between 1 and 8"),
        ({"n_factors": 2.0}, "n_factors: expected an integer"),
        ({"n_factors": 2, "method": "ols"}, "method: expected"),
        ({"n_factors": 2, "rotation": "quartimax"}, "rotation: expected"),
        ({"n_factors": 2, "missing": "median"}, "missing: expected"),
    ],
)
def test_efa_rejects_bad_options(kwargs: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        efa(HS9, **kwargs)


def test_parallel_analysis_rejects_bad_options() -> None:
    with pytest.raises(DataError, match="method"):
        parallel_analysis(HS9, method="bootstrap")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="n_iter"):
        parallel_analysis(HS9, n_iter=0)
    with pytest.raises(DataError, match="quantile"):
        parallel_analysis(HS9, quantile=1.5)
    with pytest.raises(DataError, match="max_factors"):
        velicer_map(HS9, max_factors=0)
