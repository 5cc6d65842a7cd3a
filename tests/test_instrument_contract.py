"""One contract over every shipped instrument (and edition): it loads, validates, is scoreable, and documents
its source and terms.

DOCUMENTED_SCALES says, per instrument, how many item-level scales one item may enter (from each instrument's
published key): SVS one basic value; PVQ-RR one refined value plus at most one of the 10 broad values; MFQ one
foundation; VSM 2013 and the WVS module have no scales (indices only).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from psychoml.instruments import available, load, validate_file
from psychoml.instruments.loader import shipped_files

SHIPPED = ["mfq2", "mfq30", "pvq_rr", "svs56", "svs57", "vsm2013", "wvs7"]
DOCUMENTED_SCALES = {"svs56": 1, "svs57": 1, "pvq_rr": 2, "mfq30": 1, "mfq2": 1, "vsm2013": 0, "wvs7": 0}
PUBLISHED_COUNTS = {  # items, item-level scales (+ composites), indices
    "svs56": (56, 10 + 4, 0),
    "svs57": (57, 10 + 4, 0),
    "pvq_rr": (57, 19 + 10 + 4, 0),
    "mfq30": (32, 5, 0),  # 30 scored items + 2 catch items
    "mfq2": (36, 6, 0),
    "vsm2013": (24, 0, 6),
    "wvs7": (187, 0, 3),
}
DOCS = (Path(__file__).resolve().parents[1] / "docs" / "instruments.md").read_text(encoding="utf-8")


def test_every_shipped_instrument_is_listed():
    assert sorted(available()) == sorted(SHIPPED)
    assert sorted(f.stem for f in shipped_files()) == sorted(set(SHIPPED) - {"svs57"})


@pytest.mark.parametrize("iid", SHIPPED)
def test_loads_validates_and_matches_published_counts(iid):
    inst = load(iid)
    n_items, n_scales, n_indices = PUBLISHED_COUNTS[iid]
    assert (len(inst.items), len(inst.scales), len(inst.indices)) == (n_items, n_scales, n_indices)
    if inst.base_id == iid:
        validate_file(inst.source)  # the file itself, with every edition, validates


@pytest.mark.parametrize("iid", SHIPPED)
def test_items_keys_and_scale_membership(iid):
    inst = load(iid)
    membership = {i: 0 for i in inst.item_ids}
    for s in inst.scales:
        for i in s.items:
            membership[i] += 1
    assert max(membership.values(), default=0) <= DOCUMENTED_SCALES[iid]
    for it in inst.items:
        assert it.keying in (1, -1), it.id
        assert it.text.strip(), it.id


@pytest.mark.parametrize("iid", SHIPPED)
def test_response_scales_are_consistent(iid):
    inst = load(iid)
    for rs in inst.spec.response_scales:
        values = list(rs.values)
        assert values == sorted(values), rs.id  # published order is ascending codes
        assert all(float(v).is_integer() for v in values), rs.id
        assert np.all(np.diff(values) == 1), rs.id  # whole consecutive codes
        assert set(rs.labels) <= set(values) and rs.labels, rs.id
        assert not set(rs.missing) & set(values), rs.id
        assert rs.low in rs.labels and rs.high in rs.labels, rs.id  # both end points anchored
    used = {inst.response_scale(i).id for i in inst.item_ids}
    assert used == {rs.id for rs in inst.spec.response_scales}, "unused response scale"


@pytest.mark.parametrize("iid", SHIPPED)
def test_citation_and_terms_are_recorded(iid):
    spec = load(iid).spec
    assert spec.citation.text and (spec.citation.doi or spec.citation.url), iid
    if spec.citation.doi:
        assert re.fullmatch(r"10\.\d{4,9}/\S+", spec.citation.doi), spec.citation.doi
    terms = spec.terms
    assert terms.licence.strip() and terms.redistribution in {"allowed", "restricted", "unknown"}
    if terms.redistribution != "allowed":
        assert terms.notes and terms.url, iid  # say what restricts it and where the terms are
    assert spec.instructions.text.strip(), iid
    # docs/instruments.md has a section per shipped instrument with its redistribution status
    assert f"`{iid}`" in DOCS, iid


@pytest.mark.parametrize("iid", SHIPPED)
def test_scores_simulated_random_responses(iid):
    inst = load(iid)
    rng = np.random.default_rng(20240501)
    n = 40
    data = {}
    for it in inst.items:
        values = np.asarray(inst.response_scale(it.id).values, dtype=float)
        data[it.id] = rng.choice(values, size=n)
    frame = pd.DataFrame(data)
    frame["sample"] = np.repeat(["s1", "s2"], n // 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # random answers fail MFQ-30 catch items; that is reported
        out = inst.score(frame, group="sample")
    expected = {s.id for s in inst.scales} | {ix.id for ix in inst.indices} | {m.id for m in inst.spec.respondent_means}
    expected |= {f"{s.id}_centred" for s in inst.scales if s.centre}
    if inst.checks:
        expected |= {"excluded", "exclusion_reason"}
    assert expected <= set(out.columns), expected - set(out.columns)
    assert len(out) == n and out.index.equals(frame.index)
    kept = ~out["excluded"] if "excluded" in out else pd.Series(True, index=out.index)
    numeric = out.loc[kept, sorted(expected - {"excluded", "exclusion_reason"})]
    # every scale and index is computable from complete random answers (indices may be missing only where the
    # survey defines them as invalid, e.g. the WVS post-materialist index when the same aim is chosen twice)
    assert numeric.notna().any().all(), numeric.columns[~numeric.notna().any()].tolist()
    for s in inst.scales:
        if s.items:
            lo = min(inst.response_scale(i).low for i in s.items)
            hi = max(inst.response_scale(i).high for i in s.items)
            assert numeric[s.id].between(lo, hi).all(), s.id
