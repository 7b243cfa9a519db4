"""Process-wide values shared by every session of one store generation.

``panel serve`` builds a new page for every browser session. What a page draws first is the same
for every session of the same catalogue (the full-view datashaded base layers, the data limits of
each axis, the histogram's bins), so it is computed once per server process and store generation
and handed to later sessions from here instead of recomputed (issue 16, item 7: ~0.9 s of CPU per
new session at 10^6 stars was datashader redrawing identical base layers).

Keys carry the catalogue's survey folder and store generation (``register``, called by
``dashboard.store.load_catalog``): a new generation (``desa ingest`` / ``desa embed``) drops the
values of the previous one, and a session still showing an older generation computes its own
values without caching them, so nothing of one generation reaches a session of another.

Shared values are read-only. HoloViews objects are handed out as shallow clones (the data is
shared, the object is not), so a session that applies options in place cannot change what the
next session gets. The cache is bounded (``MAX_ITEMS``, least recently used dropped).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

#: At most this many values are kept (each a few hundred kB at most: images of the plot's size,
#: limits, bins; the data they were made from is the catalogue's own memory-mapped columns).
MAX_ITEMS = 256
#: Values of at most this many survey folders are kept, least recently registered dropped first. A
#: kept value can hold a catalogue's memory-mapped columns, and each open map holds a file
#: descriptor: a process that opens many surveys in turn (a test run; a server whose folders are
#: replaced) would otherwise run out of descriptors (``select()`` fails beyond 1,024).
MAX_FOLDERS = 4

_LOCK = threading.RLock()
#: (folder, generation, name, args) -> value, most recently used last.
_VALUES: OrderedDict[tuple, Any] = OrderedDict()
#: id(frame or shared object) -> (weak reference to it, its key). A key identifies what the
#: object was made from: ``(folder, generation)`` for a catalogue, the value's key otherwise.
_OWNERS: dict[int, tuple[weakref.ref, tuple]] = {}
#: folder -> the newest generation registered for it; values of the others are not kept.
_LATEST: dict[str, str] = {}
#: Folders whose values are kept, least recently registered first (``MAX_FOLDERS``).
_FOLDERS: OrderedDict[str, None] = OrderedDict()
_STATS = {"hits": 0, "misses": 0, "uncached": 0}
#: False: every value is computed by its session (benchmarks/bench_session.py measures both ways).
ENABLED = True


def _track(obj: Any, key: tuple) -> None:
    """Remember which key ``obj`` was made from, for as long as ``obj`` lives."""
    ident = id(obj)

    def forget(ref: weakref.ref, ident: int = ident, lock=_LOCK, owners=_OWNERS) -> None:
        with lock:  # the module's names may be gone at interpreter exit: bound here
            if owners.get(ident, (None,))[0] is ref:
                del owners[ident]

    _OWNERS[ident] = (weakref.ref(obj, forget), key)


def register(frame: Any, folder: str, generation: str) -> None:
    """Declare ``frame`` the catalogue of ``folder`` at store ``generation``.

    A generation newer than the last one registered for ``folder`` drops every value of the
    folder's older generations.
    """
    with _LOCK:
        known = _OWNERS.get(id(frame))
        if known is None or known[0]() is not frame or known[1] != (folder, generation):
            _track(frame, (folder, generation))
        latest = _LATEST.get(folder)
        if latest is None or _newer(generation, latest):
            _LATEST[folder] = generation
            for key in [k for k in _VALUES if k[0] == folder and k[1] != generation]:
                del _VALUES[key]
        _FOLDERS[folder] = None
        _FOLDERS.move_to_end(folder)
        while len(_FOLDERS) > MAX_FOLDERS:
            old, _ = _FOLDERS.popitem(last=False)
            _LATEST.pop(old, None)  # its sessions compute their own values from now on
            for key in [k for k in _VALUES if k[0] == old]:
                del _VALUES[key]


def _newer(generation: str, than: str) -> bool:
    # "g000012" > "g000009"; generations are zero-padded and only grow (data/generations.py).
    return (len(generation), generation) > (len(than), than)


def key_of(obj: Any) -> tuple | None:
    """The key ``obj`` was registered or shared under, or None."""
    with _LOCK:
        known = _OWNERS.get(id(obj))
    if known is None or known[0]() is not obj:
        return None
    return known[1]


def _owner(key: tuple) -> tuple[str, str]:
    return key[0], key[1]


def shared(obj: Any, name: str, args: Hashable, compute: Callable[[], T], *, clone: bool = True) -> T:
    """``compute()``, computed once per process for the catalogue (or shared value) ``obj``.

    ``name`` and ``args`` say what is computed from ``obj``. Where ``obj`` is not a registered
    catalogue or a value from here, or belongs to an older generation, ``compute()`` runs and its
    result is not kept. A HoloViews object is returned as a clone sharing the cached data, or
    with ``clone=False`` (for an input that nothing changes in place) as the cached object itself.
    """
    source = key_of(obj) if ENABLED else None
    if source is None or _LATEST.get(source[0]) != source[1]:
        with _LOCK:
            _STATS["uncached"] += 1
        return compute()
    key = (*_owner(source), name, source[2:], args)
    with _LOCK:
        value = _VALUES.get(key, _VALUES)
        if value is not _VALUES:
            _VALUES.move_to_end(key)
            _STATS["hits"] += 1
            return _hand_out(value, key) if clone else value
    value = compute()  # outside the lock: another session may compute the same value meanwhile
    with _LOCK:
        _STATS["misses"] += 1
        if _LATEST.get(source[0]) == source[1]:  # still the newest generation
            _VALUES[key] = value
            _VALUES.move_to_end(key)
            while len(_VALUES) > MAX_ITEMS:
                _VALUES.popitem(last=False)
            if _is_holoviews(value):
                _track(value, key)
    return _hand_out(value, key) if clone else value


def _is_holoviews(value: Any) -> bool:
    from holoviews.core.dimension import Dimensioned

    return isinstance(value, Dimensioned)


def _hand_out(value: T, key: tuple) -> T:
    """``value``, or for a HoloViews object a clone sharing its data that keeps the value's key."""
    if not _is_holoviews(value):
        return value
    copy = value.clone()
    with _LOCK:
        _track(copy, key)
    return copy


def stats() -> dict[str, int]:
    """Hits, misses and uncached computations so far, and the number of values kept."""
    with _LOCK:
        return {**_STATS, "values": len(_VALUES)}


def clear() -> None:
    """Drop every value (tests; the registered catalogues stay registered)."""
    with _LOCK:
        _VALUES.clear()
        for name in _STATS:
            _STATS[name] = 0
