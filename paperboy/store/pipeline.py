"""Preparing records for the store, optionally in a reader process beside the writer.

A ``Prepared`` record is everything the store derives from one record alone: the row it would
become (``merge.new_row``), its hash and its author keys.  The batch logic needs nothing else,
so for big files the source can run in a forked reader process that sends prepared rows as
orjson bytes, while this process only matches and writes: on two cores reading and writing then
overlap.  (Measured and rejected: pickling the records, which cost more than it saved, and a
reader thread, which lost to the GIL since SQLite re-acquires it for every row.)
"""

from __future__ import annotations

import os
import queue
import signal
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson

from paperboy.sources.normalize import author_key
from paperboy.sources.record import Checkpoint, Item, PaperRecord, Rejection, SourceError
from paperboy.store.merge import new_row, record_hash


class Prepared:
    """A record as the store sees it: its would-be row, its hash and its author keys.

    ``seen`` marks a record the reader found identical to what this source last gave: it carries
    only its id and hash, and the writer checks that this still holds inside its transaction.
    """

    __slots__ = ("row", "hash", "author_keys", "seen")

    def __init__(self, row: dict[str, Any], digest: str, author_keys: list[str], seen: bool = False) -> None:
        self.row = row
        self.hash = digest
        self.author_keys = author_keys
        self.seen = seen

    @classmethod
    def of(cls, record: PaperRecord) -> Prepared:
        """Prepare one record."""
        return cls(new_row(record, record.id), record_hash(record), [author_key(a) for a in record.authors])


def prepared(items: Iterable[Item]) -> Iterator[Item | Prepared]:
    """The items with every record prepared."""
    for item in items:
        yield Prepared.of(item) if isinstance(item, PaperRecord) else item


# -- the reader process --------------------------------------------------------------------
CHUNK = 1000
#: Chunks the reader may run ahead, so it keeps reading while the writer commits.  8 rather than
#: 12: Kaggle import peak memory 303 -> 278 MB, and no slower (corpus import 12.8 -> 12.0 s).
QUEUE_CHUNKS = 8


def _encode(item: Item | Prepared, known: dict[str, str]) -> list[Any]:
    if isinstance(item, PaperRecord):
        digest = record_hash(item)
        if item.id is not None and known.get(item.id) == digest:
            return ["u", item.id, digest]
        item = Prepared(new_row(item, item.id), digest, [author_key(a) for a in item.authors])
    if isinstance(item, Prepared):
        return ["p", item.row, item.hash, item.author_keys]
    if isinstance(item, Rejection):
        return ["r", item.place, item.reason]
    return ["c", item.key, item.state]


def _decode(entry: list[Any]) -> Item | Prepared:
    tag = entry[0]
    if tag == "p":
        return Prepared(entry[1], entry[2], entry[3])
    if tag == "u":
        return Prepared({"id": entry[1]}, entry[2], [], seen=True)
    if tag == "r":
        return Rejection(entry[1], entry[2])
    return Checkpoint(entry[1], entry[2])


def _reader(
    factory: Callable[..., Iterable[Item]],
    args: tuple[Any, ...],
    out: Any,
    parent: int,
    lookup: Callable[[list[str]], dict[str, str]] | None,
) -> None:
    """Child: run the source, send chunks of encoded items; stop if the parent is gone.

    Ctrl-C is the parent's to handle (it finishes its batch, then ends us), so the child ignores it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def send(message: Any) -> None:
        while True:
            try:
                out.put(message, timeout=1.0)
                return
            except queue.Full:
                if os.getppid() != parent:  # the writer died (kill -9): nothing to do
                    os._exit(1)

    try:
        pending: list[Item] = []

        def flush() -> None:
            ids = [i.id for i in pending if isinstance(i, PaperRecord) and i.id]
            known = lookup(ids) if lookup and ids else {}
            send(orjson.dumps([_encode(item, known) for item in pending]))
            pending.clear()

        for item in factory(*args):
            pending.append(item)
            if len(pending) >= CHUNK:
                flush()
        flush()
        send(None)
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the writer
        send(("error", isinstance(exc, SourceError), f"{exc}" if isinstance(exc, SourceError) else repr(exc)))


def in_reader_process(
    factory: Callable[..., Iterable[Item]],
    *args: Any,
    lookup: Callable[[list[str]], dict[str, str]] | None = None,
) -> Iterator[Item | Prepared]:
    """Run ``factory(*args)`` in a forked reader process and yield its prepared items here.

    ``lookup(ids)`` (run in the reader) returns the hashes this source last gave for those ids;
    records matching them are sent as ``seen`` markers instead of whole rows.  A ``SourceError``
    in the reader (a wrong path, say) is raised again here; if the consumer stops early the
    reader is ended.  Where ``fork`` is unavailable it runs in this process.
    """
    import multiprocessing as mp

    if "fork" not in mp.get_all_start_methods():
        yield from prepared(factory(*args))
        return
    ctx = mp.get_context("fork")
    out = ctx.Queue(maxsize=QUEUE_CHUNKS)
    proc = ctx.Process(target=_reader, args=(factory, args, out, os.getpid(), lookup), daemon=True)
    proc.start()
    try:
        while True:
            try:
                message = out.get(timeout=1.0)
            except queue.Empty:
                if not proc.is_alive():
                    raise RuntimeError(f"the reader process died (exit code {proc.exitcode})") from None
                continue
            if message is None:
                return
            if isinstance(message, tuple):
                _, is_source_error, text = message
                raise SourceError(text) if is_source_error else RuntimeError(f"reader failed: {text}")
            for entry in orjson.loads(message):
                yield _decode(entry)
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(timeout=5)
        out.close()
        out.join_thread()
