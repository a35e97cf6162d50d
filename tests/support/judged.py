"""A small judged directory, laid out as ``../shared/data/judged`` lays its collections out."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

DOCS = [
    ("d1", "Statins and breast cancer survival", "Statin users had lower breast cancer mortality in a cohort."),
    ("d2", "Vitamin D and bone density", "Supplements of vitamin D raised bone mineral density in older women."),
    ("d3", "Coffee and liver disease", "Drinking coffee was linked to less liver fibrosis."),
    ("d4", "Exercise and depression", "Aerobic exercise reduced symptoms of depression in adults."),
]


def judged_dir(parent: Path) -> Path:
    """docs.jsonl.gz (no authors, categories or dates), queries.jsonl and a graded qrels.tsv under ``parent``."""
    folder = parent / "judged"
    folder.mkdir(parents=True)
    with gzip.open(folder / "docs.jsonl.gz", "wt") as fh:
        for pid, title, abstract in DOCS:
            fh.write(json.dumps({"id": pid, "title": title, "abstract": abstract, "authors": [], "categories": []}))
            fh.write("\n")
    (folder / "queries.jsonl").write_text(
        '{"query_id": "q1", "text": "Do cholesterol statin drugs cause breast cancer?"}\n'
        '{"query_id": "q2", "text": "does coffee protect the liver"}\n'
    )
    (folder / "qrels.tsv").write_text("q1\td1\t2\nq2\td3\t1\nq2\td4\t0\n")
    return folder
