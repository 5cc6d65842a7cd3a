"""Regenerate psychoml/instruments/data/countries.csv from the ISO 3166-1 table that pycountry ships.

pycountry is NOT a runtime dependency of psychoml: this script is run once, by hand, when the table needs an
update.  It reads ``pycountry/databases/iso3166-1.json`` (Debian iso-codes) straight out of a downloaded wheel:

    pip download pycountry --no-deps -d /tmp/pyc
    python tests/reference/norms/make_countries.py /tmp/pyc/pycountry-*.whl

The output has one row per ISO 3166-1 entry: alpha_2, alpha_3, numeric (zero-padded, as in ISO), name,
official_name, common_name.  Hand-made aliases (Hofstede's and the WVS's spellings) live in
country_aliases.csv next to it and are not generated.
"""

from __future__ import annotations

import csv
import json
import sys
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[3] / "psychoml" / "instruments" / "data" / "countries.csv"
FIELDS = ["alpha_2", "alpha_3", "numeric", "name", "official_name", "common_name"]


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as z:
        version = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        rows = json.loads(z.read("pycountry/databases/iso3166-1.json"))["3166-1"]
        print(f"{len(rows)} entries from {Path(wheel).name} ({version.split('/')[0]})")
    rows.sort(key=lambda r: r["alpha_3"])
    with OUT.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: r.get(k, "") for k in FIELDS})
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
