"""Import benchmarks (issue 2): the real corpus into an empty store, again (all unchanged), and in
the Kaggle snapshot shape with the importer's peak memory.

Every figure runs the real ``paperboy ingest`` command in a fresh process and reports the median
of repeated runs, since the machines are noisy.
"""

from __future__ import annotations

import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import orjson

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv-2025-2026.jsonl.gz"
PAPERS = 118_024


def _tree_rss_kb(pid: int) -> int:
    """Memory of a process and all its descendants (the importer and its reader).

    Proportional set size: pages the forked reader still shares with the importer count once.
    """
    total = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/smaps_rollup") as fh:
                total += next((int(line.split()[1]) for line in fh if line.startswith("Pss:")), 0)
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as fh:
                    todo.extend(int(child) for child in fh.read().split())
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


def _ingest(home: Path, kind: str, path: Path) -> tuple[float, int]:
    """Run one import; return (seconds, peak memory (PSS, MB) of the importer with its reader process)."""
    env = {**os.environ, "PAPERBOY_HOME": str(home)}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "paperboy", "ingest", kind, str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss_kb(proc.pid))
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"ingest {kind} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return seconds, peak // 1024


def to_kaggle(src: Path, dst: Path) -> int:
    """Rewrite the corpus in the Kaggle snapshot's shape (plain JSON lines, as Kaggle ships it)."""
    n = 0
    with gzip.open(src, "rb") as fin, dst.open("wb") as fout:
        for line in fin:
            d = orjson.loads(line)
            day = date.fromisoformat(d["announce_date"]) - timedelta(days=1)
            created = f"{day.strftime('%a')}, {day.day} {day.strftime('%b %Y')} 17:00:00 GMT"
            parsed = []
            for name in d["authors"]:
                first, _, last = name.rpartition(" ")
                parsed.append([last, first, ""])
            rec = {
                "id": d["id"],
                "submitter": d["authors"][0] if d["authors"] else None,
                "authors": ", ".join(d["authors"]),
                "title": d["title"],
                "comments": d["comment"],
                "journal-ref": None,
                "doi": None,
                "report-no": None,
                "categories": " ".join(d["categories"]),
                "license": None,
                "abstract": d["abstract"],
                "versions": [{"version": "v1", "created": created}],
                "update_date": d["announce_date"],
                "authors_parsed": parsed,
            }
            fout.write(orjson.dumps(rec) + b"\n")
            n += 1
    return n


def run(repeats: int = 3) -> list[tuple[str, str, str]]:
    """Measure and return rows of (figure, value, goal)."""
    if not CORPUS.exists():
        return [("import benchmarks", "skipped: no ../shared/data corpus", "")]
    rows: list[tuple[str, str, str]] = []
    work = Path(tempfile.mkdtemp(prefix="paperboy-bench-"))
    try:
        first, again = [], []
        for i in range(repeats):
            home = work / f"jsonl{i}"
            first.append(_ingest(home, "jsonl", CORPUS)[0])
            again.append(_ingest(home, "jsonl", CORPUS)[0])
            shutil.rmtree(home)
        f, a = statistics.median(first), statistics.median(again)
        rows.append(
            ("import corpus into empty store", f"{PAPERS / f:,.0f} papers/s ({f:.1f} s)", ">= 10,000/s, <= 12 s")
        )
        rows.append(("re-import, all unchanged", f"{PAPERS / a:,.0f} papers/s ({a:.1f} s)", ">= 20,000/s"))

        snapshot = work / "arxiv-metadata-oai-snapshot.json"
        to_kaggle(CORPUS, snapshot)
        times, peaks = [], []
        for i in range(repeats):
            home = work / f"kaggle{i}"
            seconds, peak = _ingest(home, "kaggle", snapshot)
            times.append(seconds)
            peaks.append(peak)
            shutil.rmtree(home)
        k = statistics.median(times)
        size = snapshot.stat().st_size / 1e6
        rows.append(
            (f"Kaggle snapshot shape ({size:,.0f} MB)", f"{PAPERS / k:,.0f} papers/s ({k:.1f} s)", ">= 10,000/s")
        )
        rows.append(("Kaggle import peak memory (PSS, with its reader)", f"{max(peaks)} MB", "< 300 MB"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
