"""Benchmark (b): logprobs scoring on the embedded SmolLM2 with batching + prefix reuse vs one pass per item.

Data: the first ``n_items`` items of MFQ-30, each in its own prompt rendered by :func:`psychoml.prompts.render`
under the "minimal" design: the official instructions (shared by the items of a part), the item, the response
options and the answer format.
Compared, on the same requests, in the same process, with the same loaded model:

* **baseline**: ``local:smollm2`` with ``batch_size=1, prefix_reuse=False``: one unbatched forward pass over the
  whole prompt per item (what a plain ``model(input_ids)`` loop does; logits are projected only at the read
  positions in both arms, so the ratio measures batching and prefix reuse alone);
* **psychoml**: ``local:smollm2`` as shipped (batches of 16, the shared prefix computed once per group and its
  key/value cache reused).

Both arms must give the same distributions (max abs difference printed; float32 passes of different shapes agree
to ~1e-6).  Each arm is timed ``repeats`` times, alternating, and the best time kept (the machine is shared).
Target: ratio >= 3.  Measured on an idle 2-core machine it is ~1.3-1.6x (under heavy load 7-11x: the
unbatched arm suffers more from contention): with the item between the instructions and the response options,
the prompts of different items share only their first third, so prefix reuse can save at most about that much.

Run: ``PYTHONPATH=. python benchmarks/_local_scoring.py [n_items]``; ``benchmarks/administer.py`` imports
:func:`run` and prints it as part (b).
"""

from __future__ import annotations

import sys
import time
from typing import Any

TARGET_RATIO = 3.0


def _requests(n_items: int) -> list[Any]:
    """MFQ-30 items rendered by psychoml.prompts under the "minimal" design (the official instructions)."""
    from psychoml.instruments import load
    from psychoml.prompts import load_design, render
    from psychoml.records import Request

    mfq = load("mfq30")
    variant = load_design("minimal").variants()[0]
    items = list(mfq.item_ids)
    out = []
    for k in range(n_items):
        item = items[k % len(items)]
        prompt = render(mfq, variant, [item])
        out.append(
            Request(
                model="local:smollm2",
                instrument="mfq30",
                item_ids=(item,),
                variant_id=variant.id,
                sample=k // len(items),
                messages=prompt.messages,
                options=prompt.options,
                mode="logprobs",
            )
        )
    return out


def run(n_items: int = 32, *, repeats: int = 3, batch_size: int = 16) -> dict[str, Any]:
    """Time both arms on ``n_items`` prompts; returns items/s of each, their ratio and the agreement."""
    from psychoml.backends import get_backend

    t0 = time.perf_counter()
    fast = get_backend("local:smollm2", batch_size=batch_size, prefix_reuse=True)
    load_s = time.perf_counter() - t0
    plain = get_backend("local:smollm2", batch_size=1, prefix_reuse=False)
    requests = _requests(n_items)
    fast.answer_many_sync(requests[:2])  # warm-up (first-call allocations) for both arms
    plain.answer_many_sync(requests[:1])
    best = {"fast": float("inf"), "plain": float("inf")}
    answers: dict[str, list[Any]] = {}
    for _ in range(max(1, repeats)):
        for name, backend in (("plain", plain), ("fast", fast)):
            t = time.perf_counter()
            answers[name] = backend.answer_many_sync(requests)
            best[name] = min(best[name], time.perf_counter() - t)
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
        "model": "local:smollm2",
        "load_s": load_s,
        "batched_prefix_items_per_s": fast_rate,
        "unbatched_items_per_s": plain_rate,
        "ratio": fast_rate / plain_rate,
        "target_ratio": TARGET_RATIO,
        "meets_target": fast_rate / plain_rate >= TARGET_RATIO,
        "max_abs_diff": diff,
        "batch_size": batch_size,
    }


def format_result(res: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"(b) logprobs scoring on {res['model']}, {res['n_items']} MFQ-30 prompts (model load {res['load_s']:.1f} s, excluded)",
            f"    one unbatched forward pass per item : {res['unbatched_items_per_s']:8.2f} items/s",
            f"    batched (size {res['batch_size']}) + prefix reuse    : {res['batched_prefix_items_per_s']:8.2f} items/s",
            (f"    ratio {res['ratio']:.2f}x (target >= {res['target_ratio']:.0f}x: "
            f"{'met' if res['meets_target'] else 'NOT met'}); max |diff| of distributions {res['max_abs_diff']:.1e}"),
        ]
    )


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    print(format_result(run(n)))
