"""The runner against the simulated respondent and against a real local HTTP server through the real openai SDK.

Every fault test checks the same invariant: after the run, the store holds exactly one final answer per
(variant, item, sample) of the design, none lost and none duplicated.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fakeserver import FakeOpenAIServer, Faults

import psychoml.store as store_mod
from psychoml.administer import (
    RunSummary,
    TokenBucket,
    administer,
    administer_async,
    backoff_delay,
    build_requests,
    estimate_cost,
)
from psychoml.errors import (
    BackendError,
    ConfigurationError,
    DataError,
    ModelSpecError,
    StoreError,
    ValidationError,
)
from psychoml.instruments import load
from psychoml.prompts import load_design
from psychoml.records import Answer, ResponseStatus

SIM = "simulated:grm?seed=3"
N_ITEMS = 8
QUICK = 6  # variants of the shipped "quick" design


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_one_final_answer_each(path: Path, expected: int) -> Any:
    """Exactly one final answer per (variant, item, sample); returns the tidy table."""
    with store_mod.open(path, create=False) as s:
        long = s.responses()
        n_requests = s.connection.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
    assert len(long) == expected
    assert not long.duplicated(["variant", "item", "sample"]).any()
    assert (long["status"] != "failed").all(), long.loc[long["status"] == "failed", "reason"].tolist()
    assert n_requests == expected
    return long


def run_quick(spec: str, out: Path, **kw: Any) -> RunSummary:
    kw.setdefault("progress", False)
    kw.setdefault("retry_base", 0.02)
    return administer("svs56", spec, design="quick", max_items=N_ITEMS, out=out, **kw)


# --- building requests -------------------------------------------------------------------------------------------


def test_build_requests_expands_variants_items_samples() -> None:
    inst = load("svs56")
    design = load_design("quick")
    variants, reqs = build_requests(inst, SIM, design, samples=3, items=inst.item_ids[:5])
    assert len(variants) == QUICK and len(reqs) == QUICK * 5 * 3
    assert len({r.key() for r in reqs}) == len(reqs)
    assert {r.sample for r in reqs} == {0, 1, 2}
    scale = load_design({"layout": "scale"})
    _, scale_reqs = build_requests(inst, SIM, scale, mode="generate")
    assert sum(len(r.item_ids) for r in scale_reqs) == len(inst.item_ids)
    assert all(len(r.item_ids) >= 1 for r in scale_reqs) and len(scale_reqs) < len(inst.item_ids)


# --- simulated respondent end to end -----------------------------------------------------------------------------


def test_simulated_run_then_rerun_is_served_from_store(tmp_path: Path) -> None:
    out = tmp_path / "study.db"
    first = run_quick(SIM, out, samples=2)
    assert first.requests == QUICK * N_ITEMS * 2 == first.answered
    assert first.from_store == 0 and first.complete and first.est_cost == 0.0 and first.tokens_in > 0
    long = assert_one_final_answer_each(out, QUICK * N_ITEMS * 2)
    assert long["simulated"].all()
    second = run_quick(SIM, out, samples=2)
    assert second.from_store == second.requests and second.answered == 0
    assert_one_final_answer_each(out, QUICK * N_ITEMS * 2)
    with store_mod.open(out) as s:
        runs = s.runs()
    assert list(runs["status"]) == ["finished", "finished"]
    assert runs.loc[0, "summary"]["answered"] == first.answered
    assert runs.loc[0, "backend"]["simulated"] is True


def test_generate_mode_whole_scale_prompts_and_personas(tmp_path: Path) -> None:
    out = tmp_path / "g.db"
    summary = administer("mfq30", SIM, design={"layout": "scale"}, mode="generate", out=out, progress=False,
                         personas=[None, "You are a farmer."], temperature=0.7)
    with store_mod.open(out) as s:
        long = s.responses()
    n_items = len(load("mfq30").item_ids)
    assert len(long) == 2 * n_items
    assert set(long["persona"]) == {"", "You are a farmer."}
    assert summary.requests < 2 * n_items  # several items per prompt
    assert (long["mode"] == "generate").all() and long["value"].notna().all()


class _BatchBackend:
    """A batch-capable backend (like the local transformers models) answering from the simulated respondent."""

    capabilities = frozenset({"logprobs", "generate"})
    batch_size = 4
    calls: ClassVar[list[int]] = []

    def __init__(self, spec: str, **_: Any) -> None:
        from psychoml.backends.simulated import from_spec

        self.spec = spec
        self._sim = from_spec(SIM)
        self.parameters = {"backend": "batchy"}

    async def answer(self, request: Any) -> Answer:  # pragma: no cover - the runner must use answer_many
        raise AssertionError("answer() called on a batch backend")

    async def answer_many(self, requests: list[Any]) -> list[Answer]:
        type(self).calls.append(len(requests))
        return [self._sim.answer_now(r) for r in requests]

    async def aclose(self) -> None:
        return None


def test_batch_backends_get_batches(tmp_path: Path) -> None:
    from psychoml.backends._registry import register_backend

    register_backend("batchy", _BatchBackend)
    _BatchBackend.calls.clear()
    summary = run_quick("batchy:test", tmp_path / "b.db")
    assert summary.answered == QUICK * N_ITEMS
    # the first request is the probe (a batch of one), the rest go in batches of 4 x batch_size
    assert _BatchBackend.calls[0] == 1 and max(_BatchBackend.calls) == 4 * _BatchBackend.batch_size
    assert sum(_BatchBackend.calls) == QUICK * N_ITEMS


# --- the real openai SDK against a real local server with injected faults ------------------------------------------

FAULT_CASES = {
    "429": Faults({"429": 0.4}, retry_after=0.2),
    "500": Faults({"500": 0.4}, times=2),
    "timeout": Faults({"slow": 0.25}, slow_s=2.0),
    "malformed": Faults({"malformed": 0.4}),
    "mixed": Faults({"429": 0.15, "500": 0.15, "slow": 0.1, "malformed": 0.15}, retry_after=0.1, slow_s=2.0),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(FAULT_CASES))
def test_openai_sdk_with_injected_faults_loses_nothing(tmp_path: Path, case: str) -> None:
    faults = FAULT_CASES[case]
    out = tmp_path / f"{case}.db"
    # two samples per (variant, item), except for the 429 case: the samples of a prompt send the same body (the
    # server cannot tell them apart), so the gap after a 429 is only measurable with one sample
    samples = 1 if case == "429" else 2
    with FakeOpenAIServer(faults=faults) as server:
        summary = run_quick(server.spec(), out, samples=samples, concurrency=8, backend_options={"timeout": 0.5})
        served = dict(server.served)
        gaps = server.retry_gaps("429")
    expected = QUICK * N_ITEMS * samples
    assert summary.answered == expected and summary.failed == 0 and summary.retries > 0
    fault_kind = {"timeout": "slow"}.get(case, case)
    if case != "mixed":
        assert served.get(fault_kind, 0) >= 5  # the faults really happened
    long = assert_one_final_answer_each(out, expected)
    assert (long["status"] == "ok").all()
    assert long["mass_outside"].round(6).eq(0.02).all()  # logprobs read through the SDK, 2 % off the options
    if case == "429":
        # the runner waited at least the server's Retry-After before asking again
        assert gaps and min(gaps) >= faults.retry_after * 0.95


def test_logprobs_through_sdk_match_the_simulated_respondent(tmp_path: Path) -> None:
    """The option distribution stored from the server's top_logprobs is the respondent's distribution."""
    out_http, out_sim = tmp_path / "http.db", tmp_path / "sim.db"
    with FakeOpenAIServer(simulated=SIM) as server:
        administer("svs56", server.spec(), design="minimal", max_items=5, out=out_http, progress=False)
    administer("svs56", SIM, design="minimal", max_items=5, out=out_sim, progress=False)
    with store_mod.open(out_http) as a, store_mod.open(out_sim) as b:
        ha, hb = a.responses().set_index("item"), b.responses().set_index("item")
    assert list(ha.index) == list(hb.index)
    # the server puts 2 % of the mass off the options; renormalised, the expected values agree to float precision
    assert (ha["value"] - hb["value"]).abs().max() < 1e-9
    assert (ha["argmax"] == hb["argmax"]).all()


def test_failed_requests_are_retried_on_resume(tmp_path: Path) -> None:
    out = tmp_path / "resume.db"
    # 30 % of prompts fail 5 times in a row: with max_retries=1 they end FAILED
    # the model spec (with the server's port) is part of every request key, so both runs use one server
    with FakeOpenAIServer(faults=Faults({"500": 0.3}, times=5)) as server:
        first = run_quick(server.spec(), out, max_retries=1)
        assert first.failed > 0 and first.answered + first.failed == first.requests
        with store_mod.open(out) as s:
            ok_before = s.responses(status="ok").set_index("request_key")[["value", "created_at"]]
        server.faults = Faults()  # the server recovers
        second = run_quick(server.spec(), out)
    assert second.from_store == first.answered and second.answered == first.failed
    long = assert_one_final_answer_each(out, QUICK * N_ITEMS)
    after = long.set_index("request_key").loc[ok_before.index, ["value", "created_at"]]
    assert after.equals(ok_before)  # earlier answers untouched


def test_api_key_never_reaches_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-" + "S3CRET" * 6
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    out = tmp_path / "secret.db"
    with FakeOpenAIServer() as server:
        summary = administer("svs56", server.spec(), design="minimal", max_items=4, out=out, progress=False)
        auth = set(server.auth_headers)
    assert summary.answered == 4
    assert auth == {f"Bearer {secret}"}  # the key was used ...
    for f in tmp_path.iterdir():  # ... and is in no byte of the store (nor its WAL, were one left)
        assert secret.encode() not in f.read_bytes()
        assert b"S3CRET" not in f.read_bytes()


def test_cancelled_run_leaves_a_consistent_store_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "cancel.db"

    async def main(server: FakeOpenAIServer) -> None:
        task = asyncio.ensure_future(administer_async("svs56", server.spec(), design="quick", max_items=N_ITEMS,
                                                      out=out, progress=False, concurrency=2))
        while True:
            await asyncio.sleep(0.05)
            try:
                with store_mod.open(out, create=False) as s:
                    if s.counts().get("ok", 0) >= 5:
                        break
            except StoreError:  # the run has not created the file, or sqlite made it but not yet the schema
                continue
        task.cancel()  # what Ctrl-C does to asyncio.run's main task
        with pytest.raises(asyncio.CancelledError):
            await task

    with FakeOpenAIServer(delay_s=0.02) as server:
        asyncio.run(main(server))
        with store_mod.open(out) as s:
            runs = s.runs()
            partial = s.counts().get("ok", 0)
        assert list(runs["status"]) == ["interrupted"] and 5 <= partial < QUICK * N_ITEMS
        summary = run_quick(server.spec(), out)
    assert summary.from_store == partial and summary.answered == QUICK * N_ITEMS - partial
    assert_one_final_answer_each(out, QUICK * N_ITEMS)


def test_concurrency_is_bounded(tmp_path: Path) -> None:
    """The server never sees more requests at once than ``concurrency``, and does see that many."""
    for concurrency in (1, 4):
        with FakeOpenAIServer(delay_s=0.05) as server:
            summary = administer("svs56", server.spec(), design="minimal", max_items=16, concurrency=concurrency,
                                 out=tmp_path / f"c{concurrency}.db", progress=False)
            assert summary.answered == 16
            assert server.max_in_flight == concurrency


def test_store_records_provenance_without_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """runs / variants / requests / responses hold the provenance the issue lists; keys are content hashes."""
    import json
    import sqlite3

    import psychoml
    from psychoml.records import request_key

    monkeypatch.setenv("PSYCHOML_API_KEY", "sk-local-" + "PROVENANCE" * 3)
    out = tmp_path / "prov.db"
    with FakeOpenAIServer() as server:
        spec, base_url = server.spec(), server.base_url
        administer("svs56", spec, design="quick", max_items=2, samples=2, out=out, progress=False)
    con = sqlite3.connect(out)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"runs", "variants", "requests", "responses"} <= tables
    model, backend, params, version = con.execute("SELECT model, backend, parameters, package_version FROM runs"
                                                  ).fetchone()
    assert model == spec and version == psychoml.__version__
    backend = json.loads(backend)
    assert backend["base_url"] == base_url and backend["timeout_s"] > 0
    assert "PROVENANCE" not in json.dumps(backend) and json.loads(params)["samples"] == 2
    assert con.execute("SELECT COUNT(*) FROM variants").fetchone()[0] == QUICK
    rows = con.execute(
        "SELECT q.request_key, q.model, q.instrument, q.instrument_version, q.item_ids, q.variant_id, q.sample, q.mode,"
        " q.messages, q.options, q.params, q.persona, s.status, s.raw, s.item_values, s.distributions, s.tokens_in,"
        " s.tokens_out, s.latency_s, s.created_at, s.backend, s.package_version"
        " FROM requests q JOIN responses s USING (request_key)").fetchall()
    con.close()
    assert len(rows) == QUICK * 2 * 2
    for (key, mdl, ins, iver, items, vid, sample, mode, messages, options, prm, persona, status, raw, values, dists,
         tin, tout, latency, created, used, pver) in rows:
        # the key is the SHA-256 of the request's content: recomputed from the stored columns alone
        assert key == request_key({
            "v": 1, "model": mdl, "instrument": ins, "instrument_version": iver, "items": json.loads(items),
            "variant": vid, "sample": sample, "messages": json.loads(messages), "options": json.loads(options),
            "mode": mode, "params": json.loads(prm), "persona": persona,
        })
        assert json.loads(messages)[-1][0] == "user" and "Response options" in json.loads(messages)[-1][1]
        assert status == "ok" and raw and json.loads(values) and abs(sum(json.loads(dists)[json.loads(items)[0]]
                                                                            .values()) - 1) < 1e-9
        assert tin > 0 and tout == 1 and latency > 0 and created and pver == psychoml.__version__
        assert json.loads(used)["base_url"] == base_url and json.loads(used)["temperature"] == 0.0
    assert b"PROVENANCE" not in out.read_bytes()


def test_progress_bar_and_closing_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "p.db"
    administer("svs56", SIM, design="minimal", max_items=6, out=out, progress=True)
    administer("svs56", SIM, design="minimal", max_items=8, out=out, progress=True)
    err = capsys.readouterr().err
    assert "svs56 -> simulated:grm" in err and "ETA" in err and "8/8" in err  # the progress bar
    for line in ("answered", "refused", "unparseable", "failed", "served from store", "tokens in / out",
                 "estimated cost", "$0.0000 (estimate)"):
        assert line in err, line
    lines = {ln.strip("│ ").split("│")[0].strip(): ln for ln in err.splitlines() if "│" in ln}
    assert lines["served from store"].split("│")[-2].strip() == "6"  # the second run: 6 from the first, 2 new


def test_tpm_limit_holds_in_a_real_run(tmp_path: Path) -> None:
    import time

    from psychoml.administer._runner import _Run

    inst = load("svs56")
    _, reqs = build_requests(inst, SIM, load_design("minimal"), items=inst.item_ids[:20],
                             params={"temperature": 0.0})
    total = sum(_Run.estimated_tokens(r) for r in reqs)
    tpm = 40 * total  # a one-second burst of total/1.5 tokens, then total/1.5 per second: >= 0.5 s in all
    t0 = time.perf_counter()
    administer("svs56", SIM, design="minimal", max_items=20, out=tmp_path / "tpm.db", progress=False, tpm=tpm)
    assert time.perf_counter() - t0 >= 0.5


# --- bad input leaves the store as it was --------------------------------------------------------------------------


@pytest.fixture()
def existing_store(tmp_path: Path) -> Path:
    out = tmp_path / "existing.db"
    run_quick(SIM, out, samples=1)
    return out


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_bad_input_leaves_existing_store_byte_identical(existing_store: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    before = sha(existing_store)
    bad_design = tmp_path / "design.yaml"
    bad_design.write_text("instructions: [official]\noption_order: [sideways]\n")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cases = [
        (ModelSpecError, "unknown backend 'nosuch'", {"model": "nosuch:model"}),
        (ConfigurationError, "OPENAI_API_KEY", {"model": "openai:gpt-4o-mini"}),
        (BackendError, "did not answer.*cannot connect.*nothing was written", {"model": f"openai-compatible:http://127.0.0.1:"
                                                                    f"{_closed_port()}/v1#m"}),
        (ValidationError, "design.yaml:2.*option_order", {"design": str(bad_design)}),
        (DataError, "samples", {"samples": 0}),
        (DataError, "concurrency", {"concurrency": 0}),
        (DataError, "mode", {"mode": "vibes"}),
    ]
    for error, message, kw in cases:
        args = {"model": "simulated:grm?seed=99", "design": "quick", **kw}
        model = args.pop("model")
        with pytest.raises(error, match=message):
            administer("svs56", model, out=existing_store, max_items=N_ITEMS, progress=False, retry_base=0.01,
                       **args)
        assert sha(existing_store) == before, kw
        assert sorted(p.name for p in tmp_path.iterdir()) == ["design.yaml", "existing.db"], kw


def test_bad_input_creates_no_store(tmp_path: Path) -> None:
    out = tmp_path / "new.db"
    for model in ("nosuch:x", f"openai-compatible:http://127.0.0.1:{_closed_port()}/v1#m"):
        with pytest.raises((ModelSpecError, BackendError)):
            administer("svs56", model, design="minimal", out=out, progress=False, retry_base=0.01)
        assert not out.exists()
    with pytest.raises(Exception, match="nosuch_instrument"):
        administer("nosuch_instrument", SIM, out=out, progress=False)
    assert not out.exists()


def test_store_of_newer_version_or_foreign_file_is_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.db"
    foreign.write_bytes(b"hello" * 100)
    with pytest.raises(StoreError, match="foreign.db"):
        administer("svs56", SIM, design="minimal", out=foreign, progress=False)
    assert foreign.read_bytes() == b"hello" * 100


# --- limits, backoff, prices ---------------------------------------------------------------------------------------


def test_token_bucket_rate() -> None:
    now = [0.0]

    async def fake_sleep(dt: float) -> None:
        now[0] += dt

    async def main() -> float:
        bucket = TokenBucket(rate=10.0, capacity=5.0, clock=lambda: now[0], sleep=fake_sleep)
        for _ in range(25):
            await bucket.acquire()
        await bucket.acquire(100)  # larger than the capacity: waits for a full bucket, never refused
        return now[0]

    elapsed = asyncio.run(main())
    # 5 at once from the full bucket, 20 more at 10/s = 2 s, then a full bucket (5 units) = 0.5 s
    assert elapsed == pytest.approx(2.5)


def test_rpm_limit_holds_in_a_real_run(tmp_path: Path) -> None:
    import time

    t0 = time.perf_counter()
    administer("svs56", SIM, design="minimal", max_items=30, out=tmp_path / "rpm.db", progress=False, rpm=1200)
    # 1200/min = 20/s with a one-second burst of 20: 30 requests need at least (30 - 20) / 20 = 0.5 s
    assert time.perf_counter() - t0 >= 0.5


def test_backoff_delay() -> None:
    import random

    rng = random.Random(0)
    for attempt in range(1, 8):
        d = backoff_delay(attempt, base=0.5, cap=10, rng=rng)
        assert 0.5 * min(10, 0.5 * 2 ** (attempt - 1)) <= d <= 1.5 * min(10, 0.5 * 2 ** (attempt - 1))
    assert 3.0 <= backoff_delay(1, retry_after=3.0, rng=rng) <= 3.3


def test_estimate_cost() -> None:
    assert estimate_cost("openai:gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert estimate_cost("openai:some-future-model", 10, 10) is None
    assert estimate_cost("openai-compatible:http://x/v1#m", 10, 10) is None
    assert estimate_cost("local:smollm2", 10, 10) == 0.0


def test_unsupported_mode_is_refused_before_the_store(tmp_path: Path) -> None:
    from psychoml.backends._registry import register_backend

    class GenerateOnly(_BatchBackend):
        capabilities = frozenset({"generate"})

    register_backend("genonly", GenerateOnly)
    with pytest.raises(ConfigurationError, match="does not support mode 'logprobs'"):
        administer("svs56", "genonly:x", design="minimal", out=tmp_path / "x.db", progress=False)
    assert not (tmp_path / "x.db").exists()


def test_summary_frame_and_status_enum() -> None:
    s = RunSummary(run_id="r", store="s.db", model="m", instrument="svs56", requests=3, answered=1, refused=1,
                   unparseable=0, failed=1, from_store=0, retries=2, tokens_in=5, tokens_out=1, est_cost=None,
                   elapsed_s=1.0)
    assert not s.complete and s.tokens == 6
    assert s.to_frame().loc["failed", "value"] == 1
    assert "RunSummary(run_id='r'" in repr(s)
    assert ResponseStatus.FAILED.is_final is False
