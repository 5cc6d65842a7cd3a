"""Report rendering time: 2 models x 2 instruments x 12 prompt variants (issue 8 target: under 30 s).

Builds a store with the simulated respondent (not timed), then times, in the same run:
  baseline  reading the store's responses (the least any report must do),
  analyse   every analysis of the report (reliability, G study, factor structure, circumplex, IRT by MAP),
  render    laying the results out and writing HTML, Markdown, JSON and every table as CSV and LaTeX,
and prints each as a ratio to the baseline and the total against the 30 s target.

    python benchmarks/report.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from psychoml.administer import administer
from psychoml.report import build_report
from psychoml.store import open as open_store
from psychoml.study import analyse_store
from psychoml.study.spec import AnalysesSpec

TARGET_S = 30.0
MODELS = ["simulated:grm?seed=1", "simulated:grm?seed=2&acquiescence=0.3&position=0.1"]
INSTRUMENTS = ["svs56", "mfq30"]
DESIGN = {  # 3 instructions x 2 option orders x 2 personas = 12 variants
    "instructions": ["official", "plain", "brief"],
    "option_order": ["published", "reversed"],
    "personas": [{"template": "country", "values": {"country": ["Japan", "Brazil"]}}],
}


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        t0 = time.perf_counter()
        for model in MODELS:
            for iid in INSTRUMENTS:
                administer(iid, model, design=DESIGN, samples=3, out=db, mode="logprobs", progress=False)
        build_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        with open_store(db) as store:
            n = len(store.responses())
        base_s = time.perf_counter() - t0

        spec = AnalysesSpec.model_validate({"irt": {"enabled": True, "model": "grm", "method": "map"}})
        from psychoml.study.spec import StudySpec

        study = StudySpec.model_validate({"name": "bench", "store": str(db), "instruments": INSTRUMENTS,
                                          "models": MODELS, "analyses": spec.model_dump()})
        t0 = time.perf_counter()
        result = analyse_store(db, spec=study)
        analyse_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        written = build_report(result).write(Path(tmp) / "report.html", formats=["html", "md", "json"])
        render_s = time.perf_counter() - t0
        total = analyse_s + render_s
        size = written["html"].stat().st_size

    print(f"store: {n} answers ({len(MODELS)} models x {len(INSTRUMENTS)} instruments x 12 variants x 3 samples), "
          f"built in {build_s:.1f} s (not timed below)")
    print(f"{'step':<44}{'seconds':>9}{'x baseline':>12}")
    print(f"{'baseline: read the responses from the store':<44}{base_s:>9.2f}{1.0:>12.1f}")
    print(f"{'analyse (every report analysis)':<44}{analyse_s:>9.2f}{analyse_s / base_s:>12.1f}")
    print(f"{'render (HTML, MD, JSON, CSV + LaTeX tables)':<44}{render_s:>9.2f}{render_s / base_s:>12.1f}")
    print(f"report total {total:.1f} s for a {size / 1e6:.1f} MB self-contained HTML; "
          f"target < {TARGET_S:.0f} s: {'OK' if total < TARGET_S else 'NOT MET'} ({total / TARGET_S:.2f} of the budget)")
    return 0 if total < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
