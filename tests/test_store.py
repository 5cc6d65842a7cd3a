"""The response store: round trips, idempotence, atomicity, tidy/wide tables, export and refusing foreign files."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import psychoml.store as store_mod
from psychoml.errors import DataError, StoreError
from psychoml.records import Answer, Message, Option, Request, ResponseStatus

OPTIONS = (Option("1", 1.0, "No"), Option("2", 2.0), Option("3", 3.0, "Yes"))


def make_request(item: str = "svs01", *, variant: str = "v1", sample: int = 0, items: tuple[str, ...] | None = None,
                 persona: str | None = None, temperature: float = 0.0) -> Request:
    return Request(
        model="simulated:grm", instrument="svs56", item_ids=items or (item,), variant_id=variant, sample=sample,
        messages=(Message("user", f"Rate {item}"),), options=OPTIONS, params={"temperature": temperature},
        instrument_version="1992", persona=persona,
    )


def make_answer(req: Request, status: str = "ok", value: float | None = 2.0, **kw: object) -> Answer:
    values = {i: (value if status == "ok" else None) for i in req.item_ids}
    dists = {i: {"1": 0.2, "2": 0.5, "3": 0.3} for i in req.item_ids} if status == "ok" else {}
    return Answer(request_key=req.key(), status=ResponseStatus(status), values=values, raw="2",
                  distributions=dists, mass_outside={i: 0.01 for i in req.item_ids},
                  argmax={i: (2.0 if status == "ok" else None) for i in req.item_ids},
                  reason=None if status == "ok" else f"{status} because", tokens_in=10, tokens_out=1,
                  latency_s=0.1, backend={"backend": "simulated", "simulated": True}, **kw)  # type: ignore[arg-type]


VARIANTS = [{"id": "v1", "instruction": "official", "option_order": "published"},
            {"id": "v2", "instruction": "plain", "option_order": "reversed"}]


@pytest.fixture()
def db(tmp_path: Path) -> store_mod.Store:
    s = store_mod.open(tmp_path / "study.db")
    yield s
    s.close()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_roundtrip_and_wal(db: store_mod.Store) -> None:
    run = db.start_run(model="simulated:grm", instrument="svs56", variants=VARIANTS, backend={"seed": 1})
    req = make_request()
    ans = make_answer(req)
    assert db.record(run, req, ans) is True
    got = db.get_answer(req.key())
    assert got is not None
    assert got.status is ResponseStatus.OK
    assert dict(got.values) == {"svs01": 2.0}
    assert list(got.distributions["svs01"]) == ["1", "2", "3"]  # presented order kept
    assert got.created_at == ans.created_at and got.tokens_in == 10 and got.raw == "2"
    assert db.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.get_answer("0" * 64) is None


def test_record_is_idempotent_and_final_answers_are_never_replaced(db: store_mod.Store) -> None:
    run = db.start_run(model="m", instrument="svs56")
    req = make_request()
    first = make_answer(req, value=1.0)
    assert db.record(run, req, first)
    assert not db.record(run, req, make_answer(req, value=3.0))  # a second final answer: ignored
    assert not db.record(run, req, make_answer(req, status="failed"))  # a later failure: ignored
    assert db.get_answer(req.key()).values["svs01"] == 1.0  # type: ignore[union-attr]
    assert db.connection.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 1
    assert db.connection.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 1


def test_failed_answers_are_retried_and_replaced(db: store_mod.Store) -> None:
    run = db.start_run(model="m", instrument="svs56")
    req = make_request()
    assert db.record(run, req, make_answer(req, status="failed"))
    assert db.get_answer(req.key()) is None  # FAILED is not final
    assert db.final_keys() == set()
    assert db.record(run, req, make_answer(req, status="failed"))
    assert db.record(run, req, make_answer(req, status="refused"))
    got = db.get_answer(req.key())
    assert got is not None and got.status is ResponseStatus.REFUSED
    assert db.connection.execute("SELECT attempts FROM responses").fetchone()[0] == 3
    assert db.counts() == {"refused": 1}


def test_record_rejects_answer_of_another_request(db: store_mod.Store) -> None:
    run = db.start_run(model="m", instrument="svs56")
    with pytest.raises(DataError, match="request_key"):
        db.record(run, make_request("svs01"), make_answer(make_request("svs02")))


def test_record_is_one_transaction(db: store_mod.Store) -> None:
    """When storing the response fails, the request row is rolled back with it."""
    run = db.start_run(model="m", instrument="svs56")
    db.connection.execute("CREATE TRIGGER boom BEFORE INSERT ON responses BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
    with pytest.raises(StoreError, match="disk on fire"):
        db.record(run, make_request(), make_answer(make_request()))
    assert db.connection.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 0
    assert not db.connection.in_transaction


def test_responses_tidy_long_one_row_per_request_and_item(db: store_mod.Store) -> None:
    run = db.start_run(model="simulated:grm", instrument="svs56", variants=VARIANTS)
    scale = make_request(items=("svs01", "svs02"), variant="v2", persona="a teacher")
    db.record(run, scale, make_answer(scale))
    single = make_request("svs03", variant="v1", sample=1)
    db.record(run, single, make_answer(single, status="unparseable"))
    long = db.responses()
    assert len(long) == 3
    assert list(long.columns[: len(store_mod.RESPONSE_COLUMNS)]) == list(store_mod.RESPONSE_COLUMNS)
    assert {"instruction", "option_order"} <= set(long.columns)  # variant facets
    row = long[long["item"] == "svs02"].iloc[0]
    assert row["variant"] == "v2" and row["instruction"] == "plain" and row["persona"] == "a teacher"
    assert row["value"] == 2.0 and row["status"] == "ok" and bool(row["simulated"])
    assert json.loads(row["distribution"]) == {"1": 0.2, "2": 0.5, "3": 0.3}
    bad = long[long["item"] == "svs03"].iloc[0]
    assert math.isnan(bad["value"]) and bad["reason"] == "unparseable because" and bad["persona"] == ""
    assert len(db.responses(status="ok")) == 2 and len(db.responses(run_id="nope")) == 0


def test_matrix_wide_respondent_by_item(db: store_mod.Store) -> None:
    run = db.start_run(model="m", instrument="svs56", variants=VARIANTS)
    for variant in ("v1", "v2"):
        for sample in (0, 1):
            for item, value in (("svs02", 1.0), ("svs01", 3.0)):
                req = make_request(item, variant=variant, sample=sample)
                status = "refused" if (variant, sample, item) == ("v2", 1, "svs01") else "ok"
                db.record(run, req, make_answer(req, status=status, value=value))
    wide = db.matrix()
    assert wide.shape == (4, 2)
    assert list(wide.columns) == ["svs01", "svs02"]  # instrument order
    assert list(wide.index.names) == ["model", "persona", "variant", "sample"]
    assert math.isnan(wide.loc[("simulated:grm", "", "v2", 1), "svs01"])
    assert wide.loc[("simulated:grm", "", "v1", 0), "svs02"] == 1.0
    argmax = db.matrix(value="argmax")
    assert argmax.notna().sum().sum() == 7 and (argmax.stack().dropna() == 2.0).all()
    # the same respondent x item under another temperature: ambiguous without run_id / respondent columns
    extra = make_request("svs01", temperature=0.7)
    db.record(run, extra, make_answer(extra))
    with pytest.raises(DataError, match="more than once"):
        db.matrix()
    with pytest.raises(DataError, match="value"):
        db.matrix(value="mean")


def test_export_csv_parquet_and_wide(db: store_mod.Store, tmp_path: Path) -> None:
    run = db.start_run(model="m", instrument="svs56", variants=VARIANTS)
    for item in ("svs01", "svs02"):
        req = make_request(item)
        db.record(run, req, make_answer(req))
    db.export(tmp_path / "r.csv")
    db.export(tmp_path / "r.parquet")
    db.export(tmp_path / "w.csv", wide=True)
    csv = pd.read_csv(tmp_path / "r.csv")
    pq = pd.read_parquet(tmp_path / "r.parquet")
    assert len(csv) == len(pq) == 2 and list(pq["item"]) == ["svs01", "svs02"]
    assert list(pd.read_csv(tmp_path / "w.csv").columns[-2:]) == ["svs01", "svs02"]
    with pytest.raises(DataError, match="suffix"):
        db.export(tmp_path / "r.xlsx")


def test_runs_table_and_summary(db: store_mod.Store) -> None:
    run = db.start_run(model="m", instrument="svs56", samples=2, mode="logprobs", parameters={"concurrency": 8},
                       design={"name": "quick"}, n_requests=4)
    db.finish_run(run, {"answered": 4})
    runs = db.runs()
    assert list(runs["run_id"]) == [run]
    assert runs.loc[0, "status"] == "finished" and runs.loc[0, "summary"] == {"answered": 4}
    assert runs.loc[0, "parameters"] == {"concurrency": 8} and runs.loc[0, "package_version"]
    with pytest.raises(StoreError, match="no run"):
        db.finish_run("missing", {})


def test_foreign_files_are_refused_untouched(tmp_path: Path) -> None:
    text = tmp_path / "notes.db"
    text.write_text("not a database at all\n" * 10)
    before = sha(text)
    with pytest.raises(StoreError, match="notes.db.*not a psychoml response store"):
        store_mod.open(text)
    assert sha(text) == before

    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.execute("INSERT INTO t VALUES (1)")
    con.commit()
    con.close()
    before = sha(other)
    with pytest.raises(StoreError, match="other.db.*another program"):
        store_mod.open(other)
    assert sha(other) == before

    with pytest.raises(StoreError, match="missing.db.*not found"):
        store_mod.open(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(StoreError, match="does not exist"):
        store_mod.open(tmp_path / "no" / "such" / "folder.db")


def test_a_reader_never_initialises_a_store_still_being_created(tmp_path: Path) -> None:
    """sqlite creates a run's file before its schema; open(create=False) in that window neither writes nor passes."""
    empty = tmp_path / "starting.db"
    empty.touch()
    with pytest.raises(StoreError, match="starting.db.*not found"):
        store_mod.open(empty, create=False)
    con = sqlite3.connect(empty)
    con.execute("PRAGMA user_version = 0")  # a valid, table-less SQLite file (size > 0)
    con.execute("VACUUM")
    con.close()
    assert empty.stat().st_size > 0
    before = sha(empty)
    with pytest.raises(StoreError, match="starting.db.*not found.*empty SQLite database"):
        store_mod.open(empty, create=False)
    assert sha(empty) == before
    with store_mod.open(empty) as s:  # the writer (create=True) initialises it as before
        assert s.counts() == {}


def test_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with store_mod.open(path) as s:
        s.connection.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                             (str(store_mod.SCHEMA_VERSION + 1),))
    before = sha(path)
    with pytest.raises(StoreError, match=r"future.db.*newer psychoml"):
        store_mod.open(path)
    assert sha(path) == before


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with store_mod.open(path) as s:
        run = s.start_run(model="m", instrument="svs56")
        req = make_request()
        s.record(run, req, make_answer(req))
    with store_mod.open(path) as s:
        assert s.get_answer(req.key()) is not None
        assert len(s.runs()) == 1
        assert s.connection.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "1"


_statuses = st.sampled_from(["ok", "refused", "unparseable", "failed"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=st.lists(st.tuples(st.integers(0, 2), _statuses), min_size=1, max_size=12))
def test_property_first_final_answer_wins(tmp_path: Path, history: list[tuple[int, str]]) -> None:
    """Whatever order answers arrive in, each key keeps its first final answer, and FAILED only until then."""
    path = tmp_path / f"p{abs(hash(tuple(history)))}.db"
    with store_mod.open(path) as s:
        run = s.start_run(model="m", instrument="svs56")
        for n, (item, status) in enumerate(history):
            req = make_request(f"svs0{item + 1}")
            s.record(run, req, make_answer(req, status=status, value=float(n)))
        for item in {i for i, _ in history}:
            statuses = [(n, st_) for n, (i, st_) in enumerate(history) if i == item]
            finals = [(n, st_) for n, st_ in statuses if st_ != "failed"]
            got = s.get_answer(make_request(f"svs0{item + 1}").key())
            if finals:
                assert got is not None and got.status.value == finals[0][1]
                if finals[0][1] == "ok":
                    assert got.values[f"svs0{item + 1}"] == float(finals[0][0])
            else:
                assert got is None
        assert s.connection.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == len({i for i, _ in history})
    path.unlink()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=st.lists(st.tuples(st.integers(0, 3), _statuses), min_size=1, max_size=14),
       cuts=st.lists(st.integers(1, 14), max_size=4))
def test_property_record_many_equals_one_at_a_time(tmp_path: Path, history: list[tuple[int, str]],
                                                   cuts: list[int]) -> None:
    """Batches (the runner's group commits, duplicates within a batch included) store exactly what recording the
    same answers one at a time stores, and report the same written flags."""
    tag = abs(hash((tuple(history), tuple(cuts))))
    one, many = tmp_path / f"one{tag}.db", tmp_path / f"many{tag}.db"
    pairs = []
    for n, (item, status) in enumerate(history):
        req = make_request(f"svs0{item + 1}")
        pairs.append((req, make_answer(req, status=status, value=float(n))))
    with store_mod.open(one) as a, store_mod.open(many) as b:
        ra, rb = a.start_run(model="m", instrument="svs56"), b.start_run(model="m", instrument="svs56")
        flags_one = [a.record(ra, r, x) for r, x in pairs]
        bounds = sorted({0, len(pairs), *(c for c in cuts if c < len(pairs))})
        flags_many = []
        for lo, hi in itertools.pairwise(bounds):
            flags_many += b.record_many(rb, pairs[lo:hi])
        assert flags_many == flags_one
        q = "SELECT request_key, status, item_values, attempts FROM responses ORDER BY request_key"
        assert a.connection.execute(q).fetchall() == b.connection.execute(q).fetchall()
        assert a.connection.execute("SELECT COUNT(*) FROM requests").fetchone() == \
            b.connection.execute("SELECT COUNT(*) FROM requests").fetchone()
    one.unlink()
    many.unlink()


def test_variants_and_persona_fields(db: store_mod.Store) -> None:
    from psychoml.prompts import Design, PersonaTemplate

    design = Design(personas=(None, PersonaTemplate.from_mapping("country", {"country": ["Japan", "Chile"]})))
    variants = design.variants()
    db.start_run(model="m", instrument="svs56", variants=variants)
    table = db.variants()
    assert list(table["variant"]) == [v.id for v in variants]
    assert "option_position" in table.columns and "persona_fields" not in table.columns
    fields = db.persona_fields()
    assert fields == {v.id: dict(v.persona_fields) for v in variants if v.persona_fields}
    assert sorted(f["country"] for f in fields.values()) == ["Chile", "Japan"]
