"""The map: every paper as a point in two dimensions, from its vector.

A full layout is UMAP (umap-learn, cosine metric, 15 neighbours): it keeps neighbourhoods (papers
close in meaning stay close on the map) and, unlike t-SNE, also keeps some of the larger
arrangement, so related topics sit side by side.  When an earlier layout exists, its positions
start the new one (``init``), so a rebuild moves the map little and people keep their bearings.
Papers that arrive between builds are placed without re-running it: at the similarity-weighted
mean of their nearest placed neighbours' points (``place``), which is what a full run would put
them near anyway, in milliseconds.  Coordinates are scaled to [-1, 1] on the longer side.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

import numpy as np

#: UMAP settings: its defaults, except the cosine metric and fewer epochs for large corpora.
NEIGHBOURS = 15
MIN_DIST = 0.1
#: UMAP's learning rate when it starts from the previous map (its default is 1.0).
REFINE_RATE = 0.25
#: Corpora up to this size get a reproducible (seeded, single-threaded) layout.
SEEDED_UP_TO = 20_000
#: Neighbours a newly placed paper is put among.
PLACE_NEIGHBOURS = 10
#: Rows of new papers compared with the placed ones at a time (bounds memory: rows x placed floats).
PLACE_CHUNK = 256


def layout(
    vectors: np.ndarray,
    init: np.ndarray | None = None,
    seed: int = 0,
    epochs: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> np.ndarray:
    """2-D positions of unit ``vectors`` (n x d), scaled into [-1, 1]; ``init``: starting positions (n x 2)."""
    n = len(vectors)
    if n == 0:
        return np.zeros((0, 2), dtype=np.float32)
    if n < 8:  # too few for a neighbour graph: the two main directions of variation are the map
        return _scaled(_pca(vectors))
    import umap  # imported here: numba compiles on first import, seconds the web processes never pay

    if epochs is None:
        epochs = 200 if n > 10_000 else 500
    start: str | np.ndarray = "spectral" if n > 100 else "random"
    rate = 1.0
    if init is not None and init.shape == (n, 2) and np.isfinite(init).all():
        # refine the previous map rather than start over: half the epochs, a quarter of the step
        start, rate, epochs = init.astype(np.float64), REFINE_RATE, max(50, epochs // 2)
    k = min(NEIGHBOURS, n - 1)
    knn = _neighbours(vectors, k) if n > SEEDED_UP_TO else None
    reducer = umap.UMAP(
        n_neighbors=k,
        precomputed_knn=knn or (None, None, None),
        min_dist=MIN_DIST,
        metric="cosine",
        n_epochs=epochs,
        init=start,
        learning_rate=rate,
        # a fixed seed makes UMAP run on one thread: only small corpora (and tests) get one
        random_state=seed if n <= SEEDED_UP_TO else None,
        n_jobs=1 if n <= SEEDED_UP_TO else -1,
        low_memory=True,
        verbose=False,
    )
    if progress:
        progress("laying out the map (UMAP)")
    try:
        with warnings.catch_warnings():  # "no search index, so no transform": we place new papers ourselves
            warnings.filterwarnings("ignore", message=".*knn_search_index.*")
            warnings.filterwarnings("ignore", message=".*n_jobs value.*")
            points = reducer.fit_transform(vectors)
    except (ValueError, TypeError):  # a degenerate graph (many identical vectors): fall back to PCA
        points = _pca(vectors)
    points = _scaled(np.asarray(points, dtype=np.float64))
    if init is not None and init.shape == points.shape:
        points = _scaled(align(points, init))
    return points


def align(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``points`` turned, mirrored, scaled and moved to lie as close as they can to ``reference``.

    A layout is only defined up to such moves; aligning a new map with the previous one (orthogonal
    Procrustes) keeps north where it was.
    """
    from scipy.linalg import orthogonal_procrustes

    a = points - points.mean(axis=0)
    b = reference - reference.mean(axis=0)
    rotation, scale = orthogonal_procrustes(a, b)
    return (a @ rotation) * (scale / max(float((a**2).sum()), 1e-12)) + reference.mean(axis=0)


def _neighbours(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, None]:
    """Every row's ``k`` nearest rows (itself first) and cosine distances, by hnswlib on all cores.

    UMAP's own nearest-neighbour descent took 140 s of the 118k layout; an HNSW graph (M=16) gives
    the same graph in a fraction of that (``bench/topics_bench.py``).
    """
    import hnswlib

    index = hnswlib.Index(space="cosine", dim=vectors.shape[1])
    index.init_index(max_elements=len(vectors), ef_construction=100, M=16, random_seed=0)
    index.set_num_threads(os.cpu_count() or 1)
    index.add_items(vectors, np.arange(len(vectors)))
    index.set_ef(max(50, 2 * k))
    labels, distances = index.knn_query(vectors, k=k)
    for row in np.flatnonzero(labels[:, 0] != np.arange(len(vectors))):  # duplicates can come before themselves
        at = np.flatnonzero(labels[row] == row)
        swap = at[0] if len(at) else k - 1
        labels[row, swap], labels[row, 0] = labels[row, 0], row
        distances[row, swap], distances[row, 0] = distances[row, 0], 0.0
    return labels.astype(np.int64), np.maximum(distances, 0).astype(np.float32), None


def _pca(vectors: np.ndarray) -> np.ndarray:
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    if len(vectors) < 2:
        return np.zeros((len(vectors), 2))
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    basis = vt[:2].T if vt.shape[0] >= 2 else np.pad(vt.T, ((0, 0), (0, 2 - vt.shape[0])))
    return centred @ basis


def _scaled(points: np.ndarray) -> np.ndarray:
    """Centred, the longer side spanning [-1, 1]."""
    points = np.nan_to_num(points.astype(np.float64))
    lo, hi = points.min(axis=0), points.max(axis=0)
    span = float(max(hi - lo)) or 1.0
    return ((points - (lo + hi) / 2) * (2.0 / span)).astype(np.float32)


def place(
    new: np.ndarray, placed: np.ndarray, positions: np.ndarray, k: int = PLACE_NEIGHBOURS
) -> tuple[np.ndarray, np.ndarray]:
    """Points for ``new`` unit vectors among ``placed`` ones at ``positions``, and each one's nearest placed row.

    Each point is the mean of its ``k`` nearest placed neighbours' points, weighted by how much
    more similar each is than the k-th (the nearest count most).
    """
    if not len(new):
        return np.zeros((0, 2), dtype=np.float32), np.zeros(0, dtype=np.int64)
    if not len(placed):
        return np.zeros((len(new), 2), dtype=np.float32), np.full(len(new), -1, dtype=np.int64)
    k = max(1, min(k, len(placed)))
    points = np.empty((len(new), 2), dtype=np.float32)
    nearest = np.empty(len(new), dtype=np.int64)
    for start in range(0, len(new), PLACE_CHUNK):
        sims = new[start : start + PLACE_CHUNK] @ placed.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < len(placed) else np.tile(np.arange(k), (len(sims), 1))
        top_sims = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_sims, axis=1)
        top, top_sims = np.take_along_axis(top, order, axis=1), np.take_along_axis(top_sims, order, axis=1)
        weights = top_sims - top_sims[:, -1:] + 1e-3
        weights /= weights.sum(axis=1, keepdims=True)
        points[start : start + len(sims)] = np.einsum("nk,nkd->nd", weights, positions[top])
        nearest[start : start + len(sims)] = top[:, 0]
    return points, nearest
