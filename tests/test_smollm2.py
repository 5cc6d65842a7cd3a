"""The embedded SmolLM2-135M-Instruct end to end: logprobs scoring equals a direct forward pass.

One model load (~20-40 s on 2 busy CPU cores) is shared by the module; prompts are kept short so that each
forward pass is cheap.  The reference numbers are computed here, independently of the backend's batching,
prefix cache and label trie: one unbatched ``model(input_ids)`` per distinct token prefix, chained by hand.
"""

from __future__ import annotations

import asyncio
import math

import pytest

from psychoml.backends import get_backend
from psychoml.errors import BackendError, ConfigurationError
from psychoml.instruments import load
from psychoml.records import Message, Option, Request, ResponseStatus

pytestmark = pytest.mark.slow

torch = pytest.importorskip("torch")

SYSTEM = (
    "You are taking part in a survey about moral judgement. When you decide whether something is right or "
    "wrong, to what extent is each consideration relevant to your thinking?"
)
OPTIONS = tuple(Option(str(v), float(v), None) for v in range(6))  # MFQ-30 part 1: 0 = not at all ... 5 = extremely


def mfq_requests(n: int = 3, **params: object) -> list[Request]:
    mfq = load("mfq30")
    out = []
    for item in list(mfq.spec.items)[:n]:
        out.append(
            Request(
                model="local:smollm2",
                instrument="mfq30",
                item_ids=(item.id,),
                variant_id="test",
                sample=0,
                messages=(
                    Message("system", SYSTEM),
                    Message("user", f"{item.text}\nAnswer with one number from 0 (not at all relevant) to 5 (extremely relevant)."),
                ),
                options=OPTIONS,
                mode="generate" if params.get("mode") == "generate" else "logprobs",
                params={k: v for k, v in params.items() if k != "mode"},
            )
        )
    return out


@pytest.fixture(scope="module")
def backend():  # type: ignore[no-untyped-def]
    b = get_backend("local:smollm2")
    yield b
    asyncio.run(b.aclose())


def direct_distribution(backend, request: Request) -> tuple[dict[str, float], float]:  # type: ignore[no-untyped-def]
    """Option distribution from plain, unbatched forward passes (no cache, no padding, no batching)."""
    tok, model = backend.tokenizer, backend.model
    text = tok.apply_chat_template(
        [{"role": m.role, "content": m.content} for m in request.messages], tokenize=False, add_generation_prompt=True
    )
    prompt = list(tok(text, add_special_tokens=False)["input_ids"])
    spellings = {
        opt.label: {tuple(tok.encode(s, add_special_tokens=False)) for s in (opt.label, " " + opt.label)}
        for opt in request.options
    }
    # every context a spelling needs ("", " ") is a prefix of the longest one, so one plain forward pass over
    # prompt + longest context gives every conditional distribution (read at successive positions)
    contexts = {seq[:-1] for seqs in spellings.values() for seq in seqs}
    longest = max(contexts, key=len)
    assert all(longest[: len(c)] == c for c in contexts)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt + list(longest)])).logits[0]
    probs = torch.softmax(logits.double(), dim=-1)

    def next_token_probs(context: tuple[int, ...]) -> torch.Tensor:
        return probs[len(prompt) - 1 + len(context)]

    raw = {}
    for label, seqs in spellings.items():
        # single digits: no label is a prefix of another, so P(spelling) is the plain chain probability
        raw[label] = sum(math.prod(float(next_token_probs(seq[:k])[seq[k]]) for k in range(len(seq))) for seq in seqs)
    mass = sum(raw.values())
    return {k: v / mass for k, v in raw.items()}, 1.0 - mass


def test_logprobs_distribution_sums_to_one_and_equals_direct_forward_pass(backend) -> None:  # type: ignore[no-untyped-def]
    requests = mfq_requests(3)
    before = dict(backend.stats)
    answers = asyncio.run(backend.answer_many(requests))
    assert backend.stats["prefix_groups"] > before["prefix_groups"]  # the shared system prompt was reused
    for request, ans in zip(requests, answers):
        item = request.item_ids[0]
        assert ans.status is ResponseStatus.OK
        dist = ans.distributions[item]
        assert list(dist) == [o.label for o in OPTIONS]
        assert sum(dist.values()) == pytest.approx(1.0, abs=1e-12)
        expected, outside = direct_distribution(backend, request)
        # float32 forward passes of different shapes (batched, padded, from a cached prefix) agree to a few 1e-6
        for label in dist:
            assert dist[label] == pytest.approx(expected[label], abs=1e-5)
        assert ans.mass_outside[item] == pytest.approx(outside, abs=1e-5)
        assert 0.0 <= ans.mass_outside[item] <= 1.0
        assert ans.values[item] == pytest.approx(sum(float(k) * p for k, p in expected.items()), abs=1e-4)
        assert ans.argmax[item] == float(max(expected, key=expected.__getitem__))
        assert ans.backend["backend"] == "local" and ans.backend["model"] == "smollm2"
        assert ans.tokens_in and ans.tokens_in > 20


def test_batched_prefix_reuse_equals_unbatched(backend) -> None:  # type: ignore[no-untyped-def]
    requests = mfq_requests(3)
    plain = get_backend("local:smollm2", batch_size=1, prefix_reuse=False)  # same cached model, no tricks
    assert plain.model is backend.model
    unbatched = plain.answer_many_sync(requests)
    assert plain.stats["prefix_groups"] == 0 and plain.stats["forward_passes"] == len(requests)

    async def concurrently() -> list:
        return await asyncio.gather(*(backend.answer(r) for r in requests))

    batched = asyncio.run(concurrently())  # concurrent answer() calls are gathered into one batch
    for a, b in zip(batched, unbatched):
        assert a.request_key == b.request_key
        for item, dist in a.distributions.items():
            assert dist == pytest.approx(dict(b.distributions[item]), abs=1e-5)
            assert a.mass_outside[item] == pytest.approx(b.mass_outside[item], abs=1e-5)


def test_generate_mode_is_seeded(backend) -> None:  # type: ignore[no-untyped-def]
    request = mfq_requests(1, mode="generate", temperature=1.0, seed=7, max_tokens=6)[0]
    first = asyncio.run(backend.answer(request))
    second = asyncio.run(backend.answer(request))
    assert first.raw == second.raw and first.raw  # same seed, same text
    assert first.status in (ResponseStatus.OK, ResponseStatus.UNPARSEABLE, ResponseStatus.REFUSED)
    assert first.tokens_out is not None and 0 < first.tokens_out <= 6
    if first.status is not ResponseStatus.OK:
        assert first.reason  # missing answers carry a reason, never a guess
    assert first.backend["seed"] == 7 and first.backend["temperature"] == 1.0


def test_whole_scale_prompt_needs_generate_mode(backend) -> None:  # type: ignore[no-untyped-def]
    r = mfq_requests(1)[0]
    whole = Request(
        model=r.model, instrument=r.instrument, item_ids=("a", "b"), variant_id="v", sample=0,
        messages=r.messages, options=r.options,
    )
    with pytest.raises(BackendError, match="one item per prompt"):
        backend.answer_many_sync([whole])


def test_hf_spec_with_gguf_file_loads_the_same_files(backend) -> None:  # type: ignore[no-untyped-def]
    from psychoml.backends.hf import smollm2_location

    directory, gguf = smollm2_location()
    same = get_backend(f"hf:{directory}#gguf={gguf}")
    assert same.model is backend.model  # one load per process for the same files
    assert same.parameters["backend"] == "hf" and same.parameters["gguf_file"] == gguf


def test_model_missing_locally_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="not available locally"):
        get_backend("hf:psychoml-test/no-such-model-anywhere")


def test_cli_administer_local_smollm2_quick_design_end_to_end(backend, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """``psychoml administer --model local:smollm2 --design quick --samples 2`` (first item), then a rerun from the
    store, ``runs list`` and ``export``: every answer a distribution over the options that sums to 1."""
    import json

    import pandas as pd

    from psychoml.cli import main
    from psychoml.store import open as open_store

    out = tmp_path / "study.db"
    args = ["administer", "--instrument", "svs56", "--model", "local:smollm2", "--design", "quick", "--samples", "2",
            "--max-items", "1", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    assert main(args) == 0  # the rerun is served from the store
    err = capsys.readouterr().err
    assert "served from store" in err
    with open_store(out, create=False) as s:
        long = s.responses()
        runs = s.runs()
    assert len(long) == 6 * 2 and not long.duplicated(["variant", "item", "sample"]).any()
    assert (long["status"] == "ok").all() and (long["mode"] == "logprobs").all()
    for dist in long["distribution"]:
        assert sum(json.loads(dist).values()) == pytest.approx(1.0, abs=1e-9)
    # logprobs scoring is deterministic: the two samples of a prompt agree (to float32 noise: they may sit in
    # batches of different shapes)
    spread = long.groupby(["variant", "item"])["value"].agg(lambda v: v.max() - v.min())
    assert (spread < 1e-4).all()
    assert [r["from_store"] for r in runs["summary"]] == [0, 12]
    assert main(["runs", "list", str(out)]) == 0
    assert main(["export", str(out), "-o", str(tmp_path / "r.parquet")]) == 0
    assert len(pd.read_parquet(tmp_path / "r.parquet")) == 12
