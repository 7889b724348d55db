"""HDF5 storage of training tuples: schema, crash-safe writer, fork-safe reader, verifier.

A tuple file holds ``count`` training tuples ``(I, I_T, I_S, M)`` of one size, the sampled
parameters of every tuple (so each tuple can be replayed and audited), the index of its source
photo, and the run's metadata (spec, seed, sources, ...) as HDF5 attributes. The store does not
know the parameter schema: the caller describes it with a :class:`StoreLayout`.

Layout of a file (format version 2)
-----------------------------------
=====================  ======================  ==========================================
dataset                shape, dtype            chunks
=====================  ======================  ==========================================
``I``, ``I_S``         (N, H, W, 3) uint8      one tuple, compressed (see below)
``M``                  (N, H, W) uint8, 0/1     one tuple, compressed
``source_index``       (N,) int64               rows (<= 16 KiB per chunk)
``written``            (N,) uint8               rows; 1 once the tuple is safely on disk
``params/<field>``     (N, *shape) field dtype  rows (<= 16 KiB per chunk)
=====================  ======================  ==========================================

``I_T`` is not stored: it is by definition ``I·(1−M)``, and the arrays a file leaves out are
named by its ``derived`` root attribute (:data:`~pastegen.store.schema.DERIVED`, ``"I_T"``).
:class:`TupleFile` (``tf[i]``, :meth:`TupleFile.read_array`, :meth:`TupleFile.read_arrays`)
rebuilds it, so readers still get the four arrays of :data:`ARRAY_NAMES`. A plain h5py reader
does the same::

    I, M = f["I"][i], f["M"][i]
    I_T = I * (1 - M[..., None])   # exact, uint8 (M is 0/1)

Leaving it out saves a third of the bytes (512x512 face tuples under blosc-lz4: I 0.79, I_S 0.12,
M 0.003 MB per tuple; I_T took 0.47 of the 1.38 MB) and the time to compress and checksum it.
:func:`stored_arrays` lists the image datasets of a file from its ``derived`` attribute; the
writer, the resume, :func:`verify` and :func:`pastegen.shards.combine` work on those only.

Files of format version 1 (:data:`READABLE_VERSIONS`) stored ``I_T`` as a fourth dataset
like ``I_S`` and have no ``derived`` attribute; they read, verify and combine as before (a
format-1 shard does not combine with format-2 ones). The writer only writes format 2; resuming a
format-1 ``.partial`` starts it over (see below).

Every dataset has the ``fletcher32`` filter: a per-chunk checksum that HDF5 checks on every read,
so a damaged chunk raises instead of returning wrong pixels. Field names contain ``/`` and so form
groups (``params/geometric/offsets``).

Root attributes managed by the store (:data:`RESERVED_ATTRS`): ``format`` (``"pastegen-tuples"``),
``format_version``, ``complete`` (0/1), ``count``, ``created`` (UTC, ISO 8601), ``compression``,
``pastegen_version``, ``json_attrs``, ``run_attrs``, ``uncompressed`` (dataset names joined by
``,``; see below) and ``derived`` (array names joined by ``,``: ``"I_T"``; absent in format 1).
The caller's attributes are stored next to them: a ``str``, ``int`` or ``float`` as an HDF5
attribute of that type, anything else (bool, None, lists, dicts) as a JSON string whose name is
listed in ``json_attrs``. Nothing is pickled.

Compression (:data:`COMPRESSIONS`) applies to the image datasets; the small datasets carry
only the checksum. Levels (measured on 200 512x512 face tuples, 2 cores): ``gzip`` level 1;
``blosc-lz4`` Blosc(lz4, clevel 1, no shuffle); ``blosc-zstd`` Blosc(zstd, clevel 1, no shuffle).
lz4 clevel 1 wrote 11% faster than clevel 5 for 1% larger files (clevel 9: 5% smaller, 30% slower);
byte shuffle is a no-op on uint8 data and bit-shuffle halved the read speed for 7% smaller files.
Blosc runs single-threaded (set ``BLOSC_NTHREADS`` to change it). ``benchmarks/hdf5_compression.py``
measures the filters; its results chose :data:`DEFAULT_COMPRESSION`.

Per-dataset rule (:data:`UNCOMPRESSED`, recorded in the ``uncompressed`` root attribute): under
``blosc-lz4`` the chunks of ``I`` are stored with the compression filter skipped (filter mask 1,
as HDF5 does itself for a chunk the filter cannot shrink; the checksum still applies): LZ4 saves
only ~26 % on a photo for ~0.5 ms per 512x512 tuple (1.18 -> ~1.38 MB per tuple in format 1,
~0.91 MB in format 2). Any HDF5 reader
with hdf5plugin reads such files unchanged; :func:`verify` checks every chunk against the rule.

Encoding in workers
-------------------
Compressing and checksumming a 512x512 tuple takes ~2-3 ms (blosc-lz4), which made a single writer
process the bottleneck. :func:`encode_tuple` does it anywhere (a joblib worker) and returns an
:class:`EncodedTuple`: per stored image dataset, the chunk's filter mask and the exact bytes HDF5's
pipeline (``[compression (optional), fletcher32]``) would store. :meth:`TupleWriter.write` accepts
it in place of the arrays and stores the chunks with ``H5Dwrite_chunk`` (~0.8 ms per 512x512
tuple instead of ~3.5 ms for blosc-lz4 and ~25 ms for gzip), through the same flush and
``written``-flag discipline; the two can be mixed in one file. blosc chunks are compressed by the
c-blosc inside hdf5plugin's own filter library (ctypes), gzip by :mod:`zlib`, the checksum by
:func:`fletcher32` (numpy or Numba), and lzf (no Python codec here) by HDF5 itself on an
in-memory file. The chunks are byte-identical to those HDF5 writes from arrays, except with lzf,
whose filter is not deterministic even in HDF5 (:mod:`~pastegen.store.encode` has the details).

Crash safety
------------
:class:`TupleWriter` writes ``<final>.partial`` next to the final path and renames it into place
(``os.replace``, atomic on one file system) only in :meth:`TupleWriter.commit`, so a run killed at
any moment never leaves a file at the final path. The file is written with HDF5's default
(earliest) file format: with ``libver="latest"`` HDF5 marks the superblock "open for writing" and
a file left by a killed writer cannot be opened again without ``h5clear``. The writer flushes
every ``flush_every`` tuples and only after a flush sets the ``written`` flag of the tuples it
covered, so a flag on disk implies the tuple's data reached the file before it (killing writers at
random moments showed a flag written together with its data can reach the disk before the data's
chunk index does). Encoded tuples are written the same way: their chunks go in when written, their
flags only after the next flush.

``resume=True`` never writes into the killed file. It opens it read-only, checks it was made with
the same layout, compression and attributes (:class:`ResumeMismatchError` otherwise), re-checks
every flagged tuple (chunks allocated, checksums, ``M`` binary and non-empty, ``I_T == I·(1−M)``
where stored, ``I_S`` zero outside ``M``) and copies the good ones chunk by chunk, still
compressed, into a fresh file that replaces the old ``.partial``; tuples that fail are generated
again. A ``.partial`` that cannot be opened at all, or that was written in another tuple format
(format 1, or other ``derived`` arrays: one file never mixes formats), is replaced by a fresh one
with a :class:`StoreWarning` (the generator is deterministic, so the result is the same). The
copy needs room for a second copy of the partial file while it runs.

Modules
-------
:mod:`~pastegen.store.schema`
    Constants, file names (``.partial``), :class:`StoreLayout`, compression filters, stored and
    derived arrays, dataset creation.
:mod:`~pastegen.store.attributes`
    Root attributes: encoding values for HDF5, decoding and reading them back.
:mod:`~pastegen.store.rows`
    Chunk-by-chunk reads of row datasets past damaged chunks (resume, reader, verify).
:mod:`~pastegen.store.consistency`
    The consistency rules of one stored tuple (resume's salvage, verify); rebuilding ``I_T``.
:mod:`~pastegen.store.writer`
    :class:`TupleWriter` (crash-safe writing, resume and salvage).
:mod:`~pastegen.store.encode`
    :func:`encode_tuple`, :class:`EncodedTuple`, :func:`fletcher32` (chunks encoded in workers).
:mod:`~pastegen.store.reader`
    :class:`TupleFile` and :func:`open_tuples` (fork-safe reading).
:mod:`~pastegen.store.verify`
    :func:`verify` and :class:`VerifyReport`.

Values of run attributes are compared (resume) by :func:`pastegen.jsonvalues.canonical_json`;
durable writes use :mod:`pastegen.atomic`.
"""

from __future__ import annotations

from ..errors import MissingFileError, StoreWarning
from .encode import EncodedTuple, encode_tuple, fletcher32
from .reader import TupleFile, open_tuples
from .schema import (
    ARRAY_NAMES,
    COMPRESSIONS,
    DEFAULT_COMPRESSION,
    DERIVED,
    FORMAT_NAME,
    FORMAT_VERSION,
    PARTIAL_SUFFIX,
    READABLE_VERSIONS,
    RESERVED_ATTRS,
    UNCOMPRESSED,
    VOLATILE_ATTRS,
    StoreLayout,
    check_output,
    partial_path,
    stored_arrays,
    uncompressed_datasets,
)
from .verify import VerifyReport, verify
from .writer import TupleWriter

__all__ = [
    "FORMAT_VERSION",
    "READABLE_VERSIONS",
    "FORMAT_NAME",
    "ARRAY_NAMES",
    "DERIVED",
    "stored_arrays",
    "COMPRESSIONS",
    "DEFAULT_COMPRESSION",
    "RESERVED_ATTRS",
    "VOLATILE_ATTRS",
    "UNCOMPRESSED",
    "uncompressed_datasets",
    "PARTIAL_SUFFIX",
    "StoreLayout",
    "StoreWarning",
    "MissingFileError",
    "TupleWriter",
    "EncodedTuple",
    "encode_tuple",
    "fletcher32",
    "TupleFile",
    "open_tuples",
    "verify",
    "VerifyReport",
    "partial_path",
    "check_output",
]
