"""Commands beyond instruments and scoring: the demo (and, as they land, administration and statistics)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from psychoml.cli.app import app, console, print_frame


@app.command("demo")
def demo() -> None:
    """Run the main job on the embedded default model (see README)."""
    from psychoml.instruments import available, load

    rng = np.random.default_rng(2024)
    for iid in available():
        inst = load(iid)
        answers = {}
        for it in inst.items:
            values = inst.response_scale(it.id).values
            answers[it.id] = rng.choice(values, size=5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores = inst.score(pd.DataFrame(answers), group=["demo"] * 5)
        console.print(f"[bold]{inst.name}[/bold]: {len(inst.items)} items -> {scores.shape[1]} score columns")
    print_frame(pd.DataFrame([load(i).summary() for i in available()]).set_index("id"), title="Instruments")
