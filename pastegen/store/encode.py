"""Encoding tuple chunks outside the writer: :func:`encode_tuple`, :class:`EncodedTuple`, :func:`fletcher32`.

The writer of a tuple file is one process; compressing ~2 MB per 512x512 tuple and checksumming
it there made it the bottleneck of ``make``. :func:`encode_tuple` does that work wherever it is
called (a joblib worker): it returns, for each stored image dataset (``I``, ``I_S``, ``M``: ``I_T``
is derived, not stored, see :data:`pastegen.store.schema.DERIVED`), the exact bytes HDF5's filter
pipeline would store for that tuple's chunk and the chunk's filter mask. The writer stores them
with ``H5Dwrite_chunk`` (h5py ``write_direct_chunk``), bypassing the pipeline, so a file written
from encoded tuples reads back exactly like one written from arrays, ``fletcher32`` included.

The pipeline (as :func:`pastegen.store.schema.create_datasets` configures it through h5py) is
``[compression (optional), fletcher32 (mandatory)]``: on write the chunk is compressed, then the
Fletcher-32 checksum of the compressed bytes is appended as 4 little-endian bytes. An optional
filter that cannot shrink a chunk is skipped and bit 0 of the chunk's filter mask set (the chunk
is then the raw bytes plus the checksum). Per compression:

==============  ========================================================  =====================
compression     what is stored (before the 4 checksum bytes)               how it is encoded here
==============  ========================================================  =====================
``none``        the raw chunk                                             numpy
``gzip``        a zlib stream (``compress2``, level 1), kept even when    :mod:`zlib` (the same
                larger than the input                                     system libz as HDF5's)
``blosc-*``     one c-blosc 1.x frame (hdf5-blosc, filter 32001: typesize  c-blosc of hdf5plugin's
                1, clevel 1, no shuffle; ``blosc_compress`` into a buffer   own Blosc filter
                of the chunk's size, so a chunk that does not fit is       library, through ctypes
                stored raw with mask 1)
``lzf``         an LZF block (h5py's filter; raw with mask 1 when it does  HDF5 itself, on an
                not fit)                                                    in-memory file
==============  ========================================================  =====================

Datasets of the per-compression rule :data:`pastegen.store.UNCOMPRESSED` (``I`` under
``blosc-lz4``) are stored as the raw chunk plus its checksum with filter mask 1 (the compression
filter skipped), by :func:`encode_tuple` and by the writer's array path alike.

``make`` itself encodes through :func:`encode_into`: the same chunks, written into one reusable
buffer per tuple in flight (recycled once the writer stored them) instead of fresh ``bytes``. Both
ignore a derived array they are given (``make`` renders ``I_T`` anyway): no chunk, no room for one.

The blosc frames come from the very library HDF5 calls for filter 32001 (``libh5blosc`` of
hdf5plugin, c-blosc 1.21.6 in hdf5plugin 7.1), so they are byte-identical to what HDF5 writes;
if that library cannot be loaded with ctypes, blosc chunks are encoded like ``lzf``. The in-memory
route runs HDF5's real pipeline on a one-chunk dataset in a ``core`` file and reads the chunk back
with ``read_direct_chunk``: what HDF5 would store, for any filter, and still off the writer's core.
The tests compare every route with chunks HDF5 wrote itself: ``none``, ``gzip`` and the blosc
ones are byte-identical. ``lzf`` is not comparable byte for byte: h5py's LZF filter does not clear
its hash table, so HDF5's own output for the same chunk depends on what ran before it (both
decode to the same data; only decoded equality is tested).

Worker-side blosc runs one thread per call (the workers are the parallelism) and, like the
filter's own settings, ignores c-blosc's ``BLOSC_*`` environment overrides: with
``BLOSC_COMPRESSOR`` or ``BLOSC_CLEVEL`` set, HDF5's ``blosc_compress`` would obey them and write
other (equally readable) bytes. ``BLOSC_NTHREADS`` changes nothing in a frame.

The checksum is :func:`fletcher32` (numpy, or Numba where the process has it loaded). Switches,
for tests and diagnosis: ``PASTEGEN_FLETCHER32=numpy|numba|auto`` and ``PASTEGEN_BLOSC_VIA_HDF5=1``
(blosc through the in-memory pipeline); :func:`encoder_backend` says what a process uses.

Validation: :func:`encode_tuple` checks names, shapes, dtypes, that ``M`` is binary and that a
given ``I_T`` is exactly ``I·(1−M)`` (what :meth:`TupleWriter.write` checks for arrays); the
writer checks an :class:`EncodedTuple`'s compression, image size and chunk sizes but cannot see
its pixels: a chunk altered after encoding fails its checksum on every read and in
:func:`pastegen.store.verify`.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
import threading
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import StoreError
from .consistency import DERIVATION, rebuild
from .schema import ARRAY_NAMES, COMPRESSIONS, DERIVED, StoreLayout, compression_kwargs, stored_arrays, uncompressed_datasets

__all__ = ["EncodedTuple", "encode_tuple", "encode_chunk", "fletcher32", "encoder_backend"]

#: Filter mask bit of the (optional) compression filter: set when it was skipped for a chunk.
_SKIPPED_COMPRESSION = 1
_ROW = 4096  # 16-bit words per row in the numpy Fletcher-32


# --- Fletcher-32 ----------------------------------------------------------------------------------


def fletcher32(data: Any) -> int:
    """HDF5's Fletcher-32 checksum (``H5_checksum_fletcher32``) of a bytes-like object.

    HDF5 reads the data as big-endian 16-bit words ``w`` (an odd last byte is the high byte of a
    final word), keeps ``sum1 = Σ w`` and ``sum2 = Σ sum1`` with end-around-carry folding, and
    returns ``sum2 << 16 | sum1``. The folding leaves each sum congruent to the true sum modulo
    65535, in ``1 .. 65535`` once any byte is non-zero (a multiple of 65535 gives 65535, not 0), and
    0 only when every byte is zero. The fletcher32 filter stores the result as 4 little-endian
    bytes after the data.

    Computed from two exact sums: as ``65536 ≡ 1 (mod 65535)``, a big-endian word is ``256·v``
    modulo 65535 where ``v`` is the same two bytes read little-endian (native, no byte swap), and
    ``sum2 = Σ (n − i)·w_i``; so only ``Σ v_i`` and ``Σ i·v_i`` are needed. numpy computes them
    (~0.15 ms per MB), or a Numba kernel (~0.06 ms per MB) in a process that has Numba loaded
    already (see ``PASTEGEN_FLETCHER32`` in :func:`_numba_sums`); both are exact.

    >>> hex(fletcher32(b"abcde"))
    '0x4ff029c7'
    >>> fletcher32(b""), fletcher32(bytes(7)), hex(fletcher32(b"\\xff\\xff")), hex(fletcher32(b"\\x00\\x01"))
    (0, 0, '0xffffffff', '0x10001')
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    nbytes = buf.size
    nw = nbytes // 2
    words = buf[: 2 * nw].view("<u2")
    kernel = _numba_sums()
    if kernel is not None:
        words.flags.writeable = False  # one compiled signature (bytes give read-only arrays anyway)
        s1, iw = kernel(words)
        s1, iw = int(s1), int(iw)
    else:
        s1, iw = _numpy_sums(words)
    if nbytes % 2:  # the odd byte is the high byte of a last word: v = that byte
        s1 += int(buf[-1])
        iw += nw * int(buf[-1])
    return _combine(s1, iw, nw + nbytes % 2)


def _combine(s1: int, iw: int, n: int) -> int:
    """The checksum from ``Σ v_i`` (exact) and ``Σ i·v_i`` (modulo 65535 is enough) over ``n`` words."""
    if s1 == 0:  # every byte is zero
        return 0
    a = (256 * s1) % 65535 or 65535
    b = (256 * (n * s1 - iw)) % 65535 or 65535  # word i is in n - i of the running sums
    return (b << 16) | a


def _numpy_sums(words: np.ndarray) -> tuple[int, int]:
    """Exact ``(Σ v_i, Σ i·v_i)`` of little-endian uint16 words, from row and column sums."""
    nw = words.size
    full = nw // _ROW
    s1 = iw = 0
    if full:
        block = words[: full * _ROW].reshape(full, _ROW)
        acc = np.uint32 if full <= 65536 else np.uint64  # a column sum is <= full * 65535
        rows = block.sum(axis=1, dtype=np.uint32).astype(np.int64)  # <= 4096 * 65535 < 2**32
        cols = block.sum(axis=0, dtype=acc).astype(np.int64)
        s1 = int(rows.sum())
        iw = _ROW * int(np.dot(np.arange(full, dtype=np.int64), rows)) + int(np.dot(np.arange(_ROW, dtype=np.int64), cols))
    tail = words[full * _ROW :].astype(np.int64)
    if tail.size:
        s1 += int(tail.sum())
        iw += int(np.dot(np.arange(full * _ROW, nw, dtype=np.int64), tail))
    return s1, iw


_numba_state: list = []  # [kernel or None] once decided


def _numba_sums() -> Any:
    """The Numba kernel, or None to use numpy.

    ``PASTEGEN_FLETCHER32``: ``numpy``, ``numba``, or ``auto`` (default): Numba once the process
    has imported it anyway (the generator's kernels do, in ``make``'s workers). Importing Numba
    and loading even a cached kernel costs a process ~1 s, which only pays for itself after
    ~10,000 tuples; numpy needs no start-up.
    """
    if _numba_state:
        return _numba_state[0]
    mode = os.environ.get("PASTEGEN_FLETCHER32", "auto").lower()
    if mode == "auto" and "numba" not in sys.modules:
        return None  # decide again on a later call
    kernel = None
    if mode != "numpy":
        try:
            kernel = _compile_numba_sums()
            probe = np.zeros(3, np.uint16)
            probe.flags.writeable = False
            kernel(probe)  # compile (or load from Numba's cache) now
        except Exception:  # noqa: BLE001 - no Numba, or it cannot compile here: numpy does it
            kernel = None
    _numba_state[:] = [kernel]
    return kernel


def _compile_numba_sums() -> Any:
    from ._fletcher_numba import fletcher32_sums

    return fletcher32_sums


# --- c-blosc through hdf5plugin's Blosc filter library -------------------------------------------

_blosc_lock = threading.Lock()
_blosc_state: list = []  # [lib or None, why] once loaded


def _blosc_lib() -> Any:
    """The c-blosc 1.x inside hdf5plugin's filter 32001 library, or None when it cannot be used."""
    if _blosc_state:
        return _blosc_state[0]
    with _blosc_lock:
        if _blosc_state:
            return _blosc_state[0]
        lib, why = None, ""
        if os.environ.get("PASTEGEN_BLOSC_VIA_HDF5"):  # testing hook: force the in-memory route
            why = "PASTEGEN_BLOSC_VIA_HDF5 is set"
        else:
            try:
                import hdf5plugin

                path = hdf5plugin.get_config().registered_filters.get("blosc") or os.path.join(hdf5plugin.PLUGIN_PATH, "libh5blosc.so")
                lib = ctypes.CDLL(path)
                fn = lib.blosc_compress_ctx
                fn.restype = ctypes.c_int
                fn.argtypes = [
                    ctypes.c_int,  # clevel
                    ctypes.c_int,  # doshuffle
                    ctypes.c_size_t,  # typesize
                    ctypes.c_size_t,  # nbytes
                    ctypes.c_void_p,  # src
                    ctypes.c_void_p,  # dest
                    ctypes.c_size_t,  # destsize
                    ctypes.c_char_p,  # compressor
                    ctypes.c_size_t,  # blocksize (0: automatic, as the filter)
                    ctypes.c_int,  # threads
                ]
                name = lib.blosc_compcode_to_compname
                name.restype = ctypes.c_int
                name.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
                version = lib.blosc_get_version_string
                version.restype = ctypes.c_char_p
                version.argtypes = []
                major = int(version().decode().split(".")[0])
                if major != 1:
                    lib, why = None, f"its c-blosc is {version().decode()}, not 1.x"
            except (OSError, AttributeError, ImportError, ValueError) as e:
                lib, why = None, f"{type(e).__name__}: {e}"
        _blosc_state[:] = [lib, why]
        return lib


def _blosc_version() -> str:
    lib = _blosc_lib()
    return lib.blosc_get_version_string().decode() if lib is not None else ""


@functools.cache
def _blosc_settings(compression: str) -> tuple[int, int, bytes]:
    """``(clevel, shuffle, compressor name)`` of the store's blosc filter options (cd_values 4..6)."""
    opts = tuple(compression_kwargs(compression)["compression_opts"])
    clevel, shuffle, code = int(opts[4]), int(opts[5]), int(opts[6])
    lib = _blosc_lib()
    out = ctypes.c_char_p()
    if lib.blosc_compcode_to_compname(code, ctypes.byref(out)) < 0 or out.value is None:
        raise StoreError(f"{compression}: hdf5plugin's c-blosc has no compressor number {code}")
    return clevel, shuffle, out.value


# --- HDF5's own pipeline on an in-memory file -----------------------------------------------------


class _Pipeline:
    """One-chunk datasets in an in-memory HDF5 file; HDF5 filters a chunk, we read it back raw."""

    _RENEW_AFTER = 512  # HDF5 reuses a rewritten chunk's space; a fresh file now and then bounds it anyway

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.file: Any = None  # an h5py.File
        self.datasets: dict = {}
        self.uses = 0
        self.serial = 0

    def encode(self, array: np.ndarray, compression: str) -> tuple[int, bytes]:
        import h5py

        if self.file is None or self.uses >= self._RENEW_AFTER:
            self.close()
            self.serial += 1
            self.file = h5py.File(f"pastegen-encode-{os.getpid()}-{id(self)}-{self.serial}.h5", "w", driver="core", backing_store=False, rdcc_nbytes=0)
            self.uses = 0
        key = (compression, array.shape)
        ds = self.datasets.get(key)
        if ds is None:
            name = f"d{len(self.datasets)}"
            ds = self.file.create_dataset(
                name, shape=(1, *array.shape), dtype="u1", chunks=(1, *array.shape), fletcher32=True, **compression_kwargs(compression)
            )
            self.datasets[key] = ds
        ds[0] = array
        self.uses += 1
        mask, data = ds.id.read_direct_chunk((0,) * ds.ndim)
        return int(mask), bytes(data)

    def close(self) -> None:
        if self.file is not None and os.getpid() == self.pid:
            try:
                self.file.close()
            except Exception:  # noqa: BLE001 - an in-memory file; nothing to lose
                pass
        self.file = None
        self.datasets = {}


_pipelines: dict[int, _Pipeline] = {}
_pipeline_lock = threading.Lock()


def _via_hdf5(array: np.ndarray, compression: str) -> tuple[int, bytes]:
    pid = os.getpid()
    with _pipeline_lock:  # HDF5 serialises calls anyway; one pipeline per process
        p = _pipelines.get(pid)
        if p is None:
            _pipelines.clear()  # an inherited (forked) pipeline belongs to the parent: drop it unclosed
            p = _pipelines[pid] = _Pipeline()
        return p.encode(array, compression)


# --- chunks and tuples ----------------------------------------------------------------------------


def encoder_backend(compression: str) -> str:
    """How :func:`encode_chunk` encodes ``compression`` in this process (for logs and benchmarks)."""
    compression_kwargs(compression)  # validates the name
    checksum = f"fletcher32 in {'numba' if _numba_sums() is not None else 'numpy'}"
    if compression == "none":
        return checksum
    if compression == "gzip":
        return f"zlib {zlib.ZLIB_RUNTIME_VERSION} level 1, {checksum}"
    if compression.startswith("blosc") and _blosc_lib() is not None:
        return f"c-blosc {_blosc_version()} (hdf5plugin's filter library, ctypes), {checksum}"
    return "HDF5's own filter pipeline on an in-memory file"


def _with_checksum(payload: Any) -> bytes:
    """``payload`` followed by its Fletcher-32 as 4 little-endian bytes (one copy)."""
    return b"".join((payload, fletcher32(payload).to_bytes(4, "little")))


def raw_chunk(array: np.ndarray) -> tuple[int, bytes]:
    """``(filter_mask, bytes)`` of a chunk stored with the compression filter skipped (mask 1)."""
    return _SKIPPED_COMPRESSION, _with_checksum(np.ascontiguousarray(array).data.cast("B"))


def encode_chunk(array: np.ndarray, compression: str) -> tuple[int, bytes]:
    """``(filter_mask, bytes)`` HDF5 stores for ``array`` as one chunk of a store image dataset.

    ``array`` is the whole chunk (one tuple's ``I``, ``I_S`` or ``M``; or ``I_T`` of a format-1
    file), uint8. The bytes are those ``read_direct_chunk`` returns for a chunk written normally,
    checksum included.
    """
    a = np.ascontiguousarray(array)
    if a.dtype != np.uint8:
        raise StoreError(f"chunks are uint8, got {a.dtype}")
    if compression not in COMPRESSIONS:
        compression_kwargs(compression)  # raises SpecError with the list
    raw = a.data.cast("B")
    n = raw.nbytes
    if compression == "none":
        return 0, _with_checksum(raw)
    if compression == "gzip":
        # H5Z deflate: compress2(level 1) into a compressBound() buffer, kept whatever its size. The
        # h5py wheel's HDF5 links the system libz, as Python's zlib does, so the bytes are the same.
        return 0, _with_checksum(zlib.compress(raw, 1))
    if compression.startswith("blosc"):
        lib = _blosc_lib()
        if lib is not None:
            clevel, shuffle, cname = _blosc_settings(compression)
            out = np.empty(n, np.uint8)
            # hdf5-blosc: blosc_compress(clevel, shuffle, typesize, nbytes, src, dest, destsize=nbytes),
            # automatic block size; the frame does not depend on the thread count
            size = lib.blosc_compress_ctx(clevel, shuffle, 1, n, a.ctypes.data, out.ctypes.data, n, cname, 0, 1)
            if size < 0:
                raise StoreError(f"c-blosc failed to compress a chunk ({size})")
            if size == 0:  # does not fit: HDF5 skips the optional filter and stores the chunk raw
                return _SKIPPED_COMPRESSION, _with_checksum(raw)
            return 0, _with_checksum(out.data[:size])
    return _via_hdf5(a, compression)


_CHECKSUM = np.dtype("<u4")


class ChunkArena:
    """One tuple's chunks, encoded into a single reusable buffer (see :func:`encode_into`).

    Region ``k`` holds the chunk of stored dataset ``names[k]`` (``I``, ``I_S``, ``M``: no room for
    the derived ``I_T``): up to its raw size plus the 4 checksum bytes, so a chunk that does not
    compress still fits. Reused from tuple to tuple (``make`` recycles them once the writer stored
    the chunks): no fresh allocation and page faults per tuple.
    """

    __slots__ = ("buf", "offsets", "sizes", "height", "width", "names")

    def __init__(self, height: int, width: int) -> None:
        self.height, self.width = height, width
        self.names = stored_arrays()
        self.sizes = tuple(height * width * (1 if name == "M" else 3) for name in self.names)
        self.offsets = tuple(int(x) for x in np.cumsum((0,) + tuple(((n + 4 + 63) // 64) * 64 for n in self.sizes))[:-1])
        self.buf = np.empty(self.offsets[-1] + self.sizes[-1] + 4, np.uint8)

    def image(self, name: str) -> np.ndarray:
        """The raw region of stored dataset ``name`` as an image (to render or crop into directly)."""
        if name not in self.names:
            raise KeyError(f"{name!r} is not stored (derived), so it has no region")
        k = self.names.index(name)
        shape = (self.height, self.width) if name == "M" else (self.height, self.width, 3)
        return self.buf[self.offsets[k] : self.offsets[k] + self.sizes[k]].reshape(shape)


def _seal(buf: np.ndarray, off: int, size: int) -> np.ndarray:
    """Append the Fletcher-32 of ``buf[off:off+size]`` and return the chunk (a view)."""
    buf[off + size : off + size + 4].view(_CHECKSUM)[0] = fletcher32(buf[off : off + size])
    return buf[off : off + size + 4]


def encode_into(arena: ChunkArena, arrays: Mapping[str, np.ndarray], compression: str, *, pooled: bool = False) -> EncodedTuple:
    """:func:`encode_tuple` into ``arena`` without the array checks (``make``'s own arrays).

    The chunks are views of the arena (valid until it is reused), byte-identical to
    :func:`encode_tuple`'s. An array that already is the arena's region of its dataset (rendered
    or cropped there) is not copied. Only the arena's (stored) datasets are encoded: a derived
    array in ``arrays`` (``I_T``) is ignored.
    """
    raw_names = uncompressed_datasets(compression)
    lib = _blosc_lib() if compression.startswith("blosc") else None
    if lib is not None:
        clevel, shuffle, cname = _blosc_settings(compression)
    buf = arena.buf
    base = buf.ctypes.data
    chunks: dict[str, tuple[int, Any]] = {}
    for k, name in enumerate(arena.names):
        a = arrays[name]
        off, n = arena.offsets[k], arena.sizes[k]
        if name in raw_names or compression == "none" or lib is not None:
            if lib is not None and name not in raw_names:
                src = np.ascontiguousarray(a)
                size = lib.blosc_compress_ctx(clevel, shuffle, 1, n, src.ctypes.data, base + off, n, cname, 0, 1)
                if size < 0:
                    raise StoreError(f"c-blosc failed to compress a chunk ({size})")
                if size > 0:
                    chunks[name] = (0, _seal(buf, off, size))
                    continue
            region = buf[off : off + n]
            if not (isinstance(a, np.ndarray) and a.ctypes.data == base + off):
                np.copyto(region, np.asarray(a).reshape(-1))
            chunks[name] = (_SKIPPED_COMPRESSION if name in raw_names or compression != "none" else 0, _seal(buf, off, n))
        else:
            chunks[name] = encode_chunk(a, compression)
    return EncodedTuple(arena.height, arena.width, compression, chunks, arena=arena if pooled else None)


@dataclass(frozen=True)
class EncodedTuple:
    """One tuple's stored image chunks, ready for :meth:`TupleWriter.write` (picklable, plain bytes).

    Attributes
    ----------
    height, width : int
        Image size the chunks were encoded for.
    compression : str
        The store compression they were encoded with; the writer refuses another.
    chunks : dict
        ``{name: (filter_mask, data)}`` for the stored datasets ``I``, ``I_S``, ``M`` (not the
        derived ``I_T``): what HDF5 stores for that chunk (compressed bytes followed by their
        4-byte Fletcher-32).
    """

    height: int
    width: int
    compression: str
    chunks: Mapping[str, tuple[int, bytes]]
    #: The reusable buffer the chunks are views of (``make``'s internal encoder; None otherwise).
    arena: Any = field(default=None, compare=False, repr=False)

    @property
    def nbytes(self) -> int:
        """Bytes the chunks take in the file."""
        return sum(memoryview(d).nbytes for _, d in self.chunks.values())


def _image_shape(name: str, height: int, width: int) -> tuple[int, ...]:
    return (height, width) if name == "M" else (height, width, 3)


def check_tuple_arrays(arrays: Mapping[str, Any], height: int, width: int, where: str, derived: tuple[str, ...] = DERIVED) -> dict[str, np.ndarray]:
    """The stored image arrays as uint8 ndarrays after the writer's checks.

    ``arrays`` holds all four arrays, or only the stored ones (the ``derived`` left out). Checked:
    names, shapes, dtypes, ``M`` binary, and a given derived array equal to what readers rebuild
    (``I_T == I·(1−M)`` exactly): the file does not keep it, so nothing may differ. Returns the
    stored arrays only.
    """
    stored = stored_arrays(derived)
    if set(arrays) != set(ARRAY_NAMES) and set(arrays) != set(stored):
        leave = f" ({', '.join(derived)} may be left out: it is rebuilt from the others)" if derived else ""
        raise StoreError(f"{where}: arrays must be exactly {', '.join(ARRAY_NAMES)}{leave}, got {', '.join(sorted(arrays))}")
    checked = {}
    for name in ARRAY_NAMES:
        if name not in arrays:
            continue
        a = np.asarray(arrays[name])
        shape = _image_shape(name, height, width)
        if a.shape != shape or a.dtype != np.uint8:
            raise StoreError(f"{where}: {name} must be {shape} uint8, got {a.shape} {a.dtype}")
        checked[name] = a
    if checked["M"].max() > 1:
        raise StoreError(f"{where}: M must hold only 0 and 1")
    for name in derived:
        if name in checked and not np.array_equal(checked.pop(name), rebuild(name, checked)):
            raise StoreError(
                f"{where}: {name} differs from {DERIVATION[name]}; tuple files do not store {name} but rebuild it as {DERIVATION[name]}, "
                "so this one would be lost"
            )
    return checked


def encode_tuple(arrays: Mapping[str, np.ndarray], shape: StoreLayout | tuple[int, int], compression: str) -> EncodedTuple:
    """Compress and checksum one tuple's arrays as the store would; callable in any process.

    Parameters
    ----------
    arrays : mapping
        ``I``, ``I_T``, ``I_S`` as (H, W, 3) uint8 and ``M`` as (H, W) uint8 of 0/1, as for
        :meth:`TupleWriter.write` (same checks; ``I_T`` may be left out, it is not stored).
    shape : StoreLayout or (height, width)
        The file's layout, or just its image size.
    compression : str
        The file's compression (one of :data:`COMPRESSIONS`).

    Returns
    -------
    EncodedTuple
        Pass it to :meth:`TupleWriter.write` in place of the arrays; chunks of the stored
        datasets only.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((4, 6), np.uint8); m[1:3, 2:4] = 1
    >>> img = np.full((4, 6, 3), 200, np.uint8)
    >>> enc = encode_tuple({"I": img, "I_T": img * (1 - m)[..., None], "I_S": img * m[..., None], "M": m}, (4, 6), "none")
    >>> enc.chunks["M"][0], len(enc.chunks["M"][1])  # filter mask, 24 bytes + checksum
    (0, 28)
    >>> sorted(enc.chunks)  # I_T is not stored
    ['I', 'I_S', 'M']
    """
    if isinstance(shape, StoreLayout):
        height, width = shape.height, shape.width
    else:
        height, width = (int(s) for s in shape)
    compression_kwargs(compression)
    checked = check_tuple_arrays(arrays, height, width, "encode_tuple")
    raw = uncompressed_datasets(compression)
    return EncodedTuple(
        height, width, compression, {name: raw_chunk(a) if name in raw else encode_chunk(a, compression) for name, a in checked.items()}
    )
