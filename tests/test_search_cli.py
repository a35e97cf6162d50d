"""The search commands end to end: index, search (also --batch), similar, eval."""

from __future__ import annotations

import json

from test_cli import run

from paperboy.services.evaluation import load_qrels


def _corpus(tmp_path):
    lines = [
        {
            "id": "2501.00001",
            "title": "Graph neural networks for molecules",
            "abstract": "Message passing on atoms.",
            "categories": ["cs.LG"],
            "announce_date": "2025-01-02",
            "authors": ["Ann Chem"],
        },
        {
            "id": "2501.00002",
            "title": "Robot grasping with reinforcement learning",
            "abstract": "A robot arm picks up objects.",
            "categories": ["cs.RO"],
            "announce_date": "2025-01-03",
            "authors": ["Rob Ot"],
        },
        {
            "id": "2501.00003",
            "title": "Robots learn to pick up things",
            "abstract": "Manipulation policies trained with rewards.",
            "categories": ["cs.RO"],
            "announce_date": "2025-01-04",
            "authors": ["Rob Ot"],
        },
        {
            "id": "2501.00004",
            "title": "Dark matter halos",
            "abstract": "Density profiles in simulations.",
            "categories": ["astro-ph.CO"],
            "announce_date": "2025-01-05",
            "authors": ["Cos Mo"],
        },
    ]
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in lines))
    return path


def test_index_search_similar_batch_and_eval(tmp_path):
    home = tmp_path / "h"
    assert run(home, "ingest", "jsonl", str(_corpus(tmp_path))).returncode == 0
    indexed = run(home, "index")
    assert indexed.returncode == 0, indexed.stderr
    assert "4 vectors" in indexed.stdout

    found = json.loads(run(home, "search", "robot grasping", "--json", "-n", "2").stdout)
    assert found["mode"] == "hybrid" and {r["id"] for r in found["results"]} == {"2501.00002", "2501.00003"}
    filtered = json.loads(run(home, "search", 'robots author:"Rob Ot" until:2025-01-03', "--json").stdout)
    assert [r["id"] for r in filtered["results"]] == ["2501.00002"]
    assert run(home, "search", "'; DROP TABLE papers; \"", "--mode", "semantic").returncode == 0
    assert run(home, "search", "x", "--mode", "bogus").returncode == 2

    similar = json.loads(run(home, "similar", "2501.00002", "--json", "-n", "1").stdout)
    assert [r["id"] for r in similar["results"]] == ["2501.00003"]
    missing = run(home, "similar", "nope")
    assert missing.returncode == 1 and "no paper" in missing.stderr and "Traceback" not in missing.stderr

    queries = tmp_path / "q.jsonl"
    queries.write_text(
        '{"query_id": "q1", "text": "picking up objects with a robot"}\n{"query_id": "q2", "text": "halo density"}\n'
    )
    batch = run(home, "search", "--batch", str(queries), "--limit", "100", "--json")
    lines = [json.loads(line) for line in batch.stdout.splitlines()]
    assert [line["query_id"] for line in lines] == ["q1", "q2"]
    assert lines[1]["results"][0]["id"] == "2501.00004" and isinstance(lines[1]["results"][0]["score"], float)

    qrels = tmp_path / "r.tsv"
    qrels.write_text("q1 2501.00002 1\nq1 2501.00003 1\nq2 2501.00004 1\n")
    assert load_qrels(qrels)["q1"] == {"2501.00002": 1, "2501.00003": 1}
    scores = run(home, "eval", "--queries", str(queries), "--qrels", str(qrels))
    assert scores.returncode == 0, scores.stderr
    assert all(mode in scores.stdout for mode in ("hybrid", "keyword", "semantic")) and "nDCG@10" in scores.stdout


def test_eval_over_a_judged_directory(tmp_path):
    from support.judged import judged_dir

    home = tmp_path / "h"
    out = run(home, "eval", "--judged", str(judged_dir(tmp_path)), "--mode", "keyword", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.splitlines()[-1])
    assert result == {"queries": 2, "judged": 2, "scores": {"keyword": {"ndcg10": 1.0, "map": 1.0, "recall100": 1.0}}}
    assert not home.exists() or not (home / "paperboy.db").exists()  # imported elsewhere, not into the home

    missing = run(home, "eval", "--judged", str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and "not a directory" in missing.stderr and "Traceback" not in missing.stderr
    assert run(home, "eval", "--judged", str(tmp_path), "--queries", "q.jsonl").returncode == 2
    assert run(home, "eval").returncode == 2
