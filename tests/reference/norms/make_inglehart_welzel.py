"""Bundle the Inglehart-Welzel cultural-map country scores (CC-BY-4.0) as psychoml/instruments/data/inglehart_welzel.csv.

Run by hand, with network access, when the table should be (re)bundled; CI never runs it:

    python tests/reference/norms/make_inglehart_welzel.py

Source: Gapminder / open-numbers, ``ddf--open_numbers--integrated_values_surveys_indicators`` (datapackage.json:
licence CC-BY-4.0, author Gapminder), the IVS (EVS + WVS) country scores on the two Inglehart-Welzel dimensions,
``tradagg`` (traditional vs secular-rational) and ``survsagg`` (survival vs self-expression), by country and survey
year.  The files are read with psychoml's own loader, so the bundled table has the loader's checked layout
(iso3, country, year, traditional_secular, survival_self_expression) and every country name is mapped or the
script stops with the line that failed.  Attribution is written next to the table (inglehart_welzel.md).
"""

from __future__ import annotations

import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from psychoml.instruments.norms import load_inglehart_welzel

REPO = "https://raw.githubusercontent.com/open-numbers/ddf--open_numbers--integrated_values_surveys_indicators/master/"
FILES = ["ddf--datapoints--tradagg--by--geo--year.csv", "ddf--datapoints--survsagg--by--geo--year.csv"]
OUT = ROOT / "psychoml" / "instruments" / "data" / "inglehart_welzel.csv"
ATTRIBUTION = """# Inglehart-Welzel country scores

`inglehart_welzel.csv`: country scores on the two dimensions of the Inglehart-Welzel cultural map
(traditional vs secular-rational, survival vs self-expression), by survey year, from the Integrated Values
Surveys (EVS + WVS), as published by Gapminder in open-numbers/ddf--open_numbers--integrated_values_surveys_indicators
under CC-BY-4.0 (https://creativecommons.org/licenses/by/4.0/). Columns renamed and countries mapped to ISO 3166-1
alpha-3 by psychoml (tests/reference/norms/make_inglehart_welzel.py); values unchanged.
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name in FILES:
            urllib.request.urlretrieve(REPO + name, Path(tmp) / name)  # fixed https URL
        table = load_inglehart_welzel(tmp)
    table.to_csv(OUT, index=False, lineterminator="\n")
    OUT.with_suffix(".md").write_text(ATTRIBUTION, encoding="utf-8")
    print(f"wrote {len(table)} rows to {OUT}")


if __name__ == "__main__":
    main()
