"""Benchmark (b): logprobs scoring on the embedded SmolLM2 with batching + prefix reuse vs one pass per item.

Data: the first ``n_items`` items of an instrument (32 of MFQ-30 and 16 of SVS-56), each in its own prompt
rendered by :func:`psychoml.prompts.render` under the "minimal" design: the official instructions, the response
options and the answer format (shared by the items of a part), then the item.
Compared, on the same requests, in the same process, with the same loaded model:

* **baseline**: ``local:smollm2`` with ``batch_size=1, prefix_reuse=False``: one unbatched forward pass over the
  whole prompt per item (what a plain ``model(input_ids)`` loop does; logits are projected only at the read
  positions in both arms, so the ratio measures batching and prefix reuse alone);
* **psychoml**: ``local:smollm2`` as shipped (batches of 16, the shared prefix computed once per group and its
  key/value cache reused).

Both arms must give the same distributions (max abs difference printed; float32 passes of different shapes agree
to ~1e-6).  Each arm is timed ``repeats`` times, alternating, and the best time kept (the machine is shared).
Target: ratio >= 3.  MFQ-30 is the like-for-like case: its labels 0-5 are single tokens, so the baseline makes
exactly one forward pass per item, as the issue states it.  SVS-56's label "-1" has three spellings of two tokens
("-1", " -1" and the " " + digit forms), so each item needs three rows, and the baseline makes three passes per
item (printed); psychoml scores all three from the item's shared prompt.
On CPU the time is close to proportional to the tokens run through the model, so the ratio is about
(prompt tokens) / (tokens after the shared prefix): MFQ-30 prompts are ~140 tokens of which ~20 follow the
prefix (two parts, so two prefixes): ~4.5x on an idle 2-core machine; SVS-56 prompts carry the long two-step
instructions (~500 tokens, ~25 after the prefix).  With the item before the options
(``option_position="after_item"``) only a third of an MFQ-30 prompt is shared and the ratio falls to ~1.5x.

Run: ``PYTHONPATH=. python benchmarks/_local_scoring.py [n_items [instrument]]``; ``benchmarks/administer.py`` imports
:func:`run_all` and prints it as part (b).
"""

from __future__ import annotations

import sys
import time
from typing import Any

TARGET_RATIO = 3.0
INSTRUMENTS = ("mfq30", "svs56")
_NAMES = {"mfq30": "MFQ-30", "svs56": "SVS-56"}


def _requests(n_items: int, instrument: str = "mfq30") -> list[Any]:
    """Items of ``instrument`` rendered by psychoml.prompts under the "minimal" design (the official instructions)."""
    from psychoml.instruments import load
    from psychoml.prompts import load_design, render
    from psychoml.records import Request

    inst = load(instrument)
    variant = load_design("minimal").variants()[0]
    items = list(inst.item_ids)
    out = []
    for k in range(n_items):
        item = items[k % len(items)]
        prompt = render(inst, variant, [item])
        out.append(
            Request(
                model="local:smollm2",
                instrument=instrument,
                item_ids=(item,),
                variant_id=variant.id,
                sample=k // len(items),
                messages=prompt.messages,
                options=prompt.options,
                mode="logprobs",
            )
        )
    return out


def _backends(batch_size: int) -> tuple[Any, Any, float]:
    """(psychoml as shipped, the unbatched baseline, seconds to load the model)."""
    from psychoml.backends import get_backend

    t0 = time.perf_counter()
    fast = get_backend("local:smollm2", batch_size=batch_size, prefix_reuse=True)
    plain = get_backend("local:smollm2", batch_size=1, prefix_reuse=False)
    return fast, plain, time.perf_counter() - t0


def run(
    n_items: int = 32, *, instrument: str = "mfq30", repeats: int = 3, batch_size: int = 16,
    backends: tuple[Any, Any, float] | None = None,
) -> dict[str, Any]:
    """Time both arms on ``n_items`` prompts of ``instrument``: items/s of each, their ratio, the forward passes
    per item of each arm and the agreement of their distributions.  ``backends`` (from :func:`_backends`)
    reuses a loaded model."""
    fast, plain, load_s = backends if backends is not None else _backends(batch_size)
    requests = _requests(n_items, instrument)
    fast.answer_many_sync(requests[:2])  # warm-up (first-call allocations) for both arms
    plain.answer_many_sync(requests[:1])
    best = {"fast": float("inf"), "plain": float("inf")}
    passes: dict[str, int] = {}
    answers: dict[str, list[Any]] = {}
    for _ in range(max(1, repeats)):
        for name, backend in (("plain", plain), ("fast", fast)):
            before = backend.stats["forward_passes"]
            t = time.perf_counter()
            answers[name] = backend.answer_many_sync(requests)
            best[name] = min(best[name], time.perf_counter() - t)
            passes[name] = backend.stats["forward_passes"] - before
    diff = max(
        abs(a.distributions[i][label] - b.distributions[i][label])
        for a, b in zip(answers["fast"], answers["plain"])
        for i in a.distributions
        for label in a.distributions[i]
    )
    fast_rate = n_items / best["fast"]
    plain_rate = n_items / best["plain"]
    return {
        "n_items": n_items,
        "instrument": instrument,
        "model": "local:smollm2",
        "load_s": load_s,
        "batched_prefix_items_per_s": fast_rate,
        "unbatched_items_per_s": plain_rate,
        "unbatched_passes_per_item": passes["plain"] / n_items,
        "batched_passes": passes["fast"],
        "ratio": fast_rate / plain_rate,
        "target_ratio": TARGET_RATIO,
        "meets_target": fast_rate / plain_rate >= TARGET_RATIO,
        "max_abs_diff": diff,
        "batch_size": batch_size,
    }


def run_all(*, batch_size: int = 16) -> list[dict[str, Any]]:
    """MFQ-30 (32 items, best of 3) and SVS-56 (16 items, best of 2: its prompts are 3.5x longer), one model."""
    backends = _backends(batch_size)
    return [
        run(32, instrument="mfq30", repeats=3, batch_size=batch_size, backends=backends),
        run(16, instrument="svs56", repeats=2, batch_size=batch_size, backends=backends),
    ]


def format_result(res: dict[str, Any]) -> str:
    what = _NAMES.get(res["instrument"], res["instrument"])
    per_item = res["unbatched_passes_per_item"]
    why = "" if per_item == 1 else " (one per spelling of the multi-token label \"-1\")"
    return "\n".join(
        [
            f"(b) logprobs scoring on {res['model']}, {res['n_items']} {what} prompts (model load {res['load_s']:.1f} s, excluded)",
            f"    unbatched, {per_item:g} forward pass(es) per item{why}: {res['unbatched_items_per_s']:8.2f} items/s",
            (f"    batched (size {res['batch_size']}) + prefix reuse, {res['batched_passes']} passes: "
            f"{res['batched_prefix_items_per_s']:8.2f} items/s"),
            (f"    ratio {res['ratio']:.2f}x (target >= {res['target_ratio']:.0f}x: "
            f"{'met' if res['meets_target'] else 'NOT met'}); max |diff| of distributions {res['max_abs_diff']:.1e}"),
        ]
    )


if __name__ == "__main__":
    if len(sys.argv) > 1:  # [n_items [instrument]]
        inst = sys.argv[2] if len(sys.argv) > 2 else "mfq30"
        print(format_result(run(int(sys.argv[1]), instrument=inst)))
    else:
        print("\n".join(format_result(r) for r in run_all()))
