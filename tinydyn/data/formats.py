"""Readers for the common file formats of text and image classification data.

Nothing is ever downloaded: these read files you already have, in the layouts of well-known
datasets (SST-2 TSV, AG News CSV, IMDB folders, MNIST IDX). A missing file raises
FileNotFoundError naming the path; malformed content raises ValueError naming the path and the
line (or, for binary IDX files, the byte offset) and what was wrong.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from pathlib import Path

import numpy as np

from tinydyn._checks import check_int, fail
from tinydyn.data.dataset import TensorDataset
from tinydyn.data.vocab import Vocab

__all__ = ["read_tsv", "read_csv", "read_text_dir", "read_idx", "text_dataset"]


def _check_file(fn: str, path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        fail(fn, f"path must be a str or os.PathLike, got {type(path).__name__}", TypeError)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{fn}: no such file: {path}")
    return path


def _parse_label(fn: str, path, line: int, text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        fail(fn, f"{path}, line {line}: label must be an integer, got {text!r}")


def _open_text(fn: str, path: Path, encoding: str):
    """Read the whole file, turning a decoding error into a message with the line number."""
    raw = path.read_bytes()
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        fail(fn, f"{path}, line {line}: not valid {encoding} text (byte {err.start})")


def read_tsv(path, text_column: str = "sentence", label_column: str = "label",
             encoding: str = "utf-8") -> tuple[list[str], np.ndarray]:
    """Read a tab-separated file with a header line, SST-2 style (``sentence\\tlabel``).

    Returns ``(texts, labels)``: a list of str and an int64 array.
    """
    path = _check_file("read_tsv", path)
    # split on "\n" only: str.splitlines would also break at characters such as U+2028
    # that may legitimately appear inside a sentence.
    lines = [line.rstrip("\r") for line in _open_text("read_tsv", path, encoding).split("\n")]
    if not lines[0].strip():
        fail("read_tsv", f"{path}, line 1: empty file, expected a header line "
             f"'{text_column}\\t{label_column}'")
    header = lines[0].split("\t")
    for column in (text_column, label_column):
        if column not in header:
            fail("read_tsv", f"{path}, line 1: header {header} has no column {column!r}")
    t, y = header.index(text_column), header.index(label_column)
    texts, labels = [], []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue  # tolerate blank lines, e.g. a trailing one
        parts = line.split("\t")
        if len(parts) != len(header):
            fail("read_tsv", f"{path}, line {number}: expected {len(header)} tab-separated "
                 f"fields {header}, got {len(parts)}")
        texts.append(parts[t])
        labels.append(_parse_label("read_tsv", path, number, parts[y]))
    return texts, np.array(labels, dtype=np.int64)


def read_csv(path, text_columns=(1, 2), label_column=0, header: bool = False,
             delimiter: str = ",", encoding: str = "utf-8") -> tuple[list[str], np.ndarray]:
    """Read a CSV file, AG News style: ``"label","title","description"`` with no header.

    ``text_columns`` (indices, or names when ``header=True``) are joined with a space into one
    text per row. Returns ``(texts, labels)``; labels are the integers as written (AG News
    uses 1..4: subtract 1 for class indices).
    """
    fn = "read_csv"
    path = _check_file(fn, path)
    if isinstance(text_columns, (int, str)):
        text_columns = (text_columns,)
    text_columns = tuple(text_columns)
    if not text_columns:
        fail(fn, "text_columns must name at least one column")
    content = _open_text(fn, path, encoding)
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter, strict=True)
    names = None
    if header:
        try:
            names = next(reader)
        except StopIteration:
            fail(fn, f"{path}, line 1: empty file, expected a header row")
        except csv.Error as err:
            fail(fn, f"{path}, line {reader.line_num}: {err}")

    def column_index(column) -> int:
        if isinstance(column, str):
            if names is None:
                fail(fn, f"column {column!r} is a name but header=False; use an index", TypeError)
            if column not in names:
                fail(fn, f"{path}, line 1: header {names} has no column {column!r}")
            return names.index(column)
        return check_int(fn, "column", column, min_value=0)

    text_idx = [column_index(c) for c in text_columns]
    label_idx = column_index(label_column)
    needed = max(text_idx + [label_idx]) + 1
    texts, labels = [], []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            fail(fn, f"{path}, line {reader.line_num}: {err}")
        if not row:
            continue
        if len(row) < needed:
            fail(fn, f"{path}, line {reader.line_num}: expected at least {needed} fields, "
                 f"got {len(row)}")
        texts.append(" ".join(row[i] for i in text_idx))
        labels.append(_parse_label(fn, path, reader.line_num, row[label_idx]))
    return texts, np.array(labels, dtype=np.int64)


def read_text_dir(root, suffix: str = ".txt", encoding: str = "utf-8"):
    """Read a folder of class folders of text files, IMDB style (``root/pos/*.txt``...).

    Labels are indices into the sorted folder names. Returns ``(texts, labels, classes)``:
    a list of str, an int64 array, and the list of folder names.
    """
    fn = "read_text_dir"
    if not isinstance(root, (str, os.PathLike)):
        fail(fn, f"root must be a str or os.PathLike, got {type(root).__name__}", TypeError)
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{fn}: no such directory: {root}")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        fail(fn, f"{root}: expected one sub-folder per class, found none")
    texts, labels = [], []
    for label, name in enumerate(classes):
        folder = root / name
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(suffix))
        if not files:
            fail(fn, f"{folder}: class folder has no {suffix!r} files")
        for file in files:
            texts.append(_open_text(fn, file, encoding).strip())
            labels.append(label)
    return texts, np.array(labels, dtype=np.int64), classes


# IDX type codes (third byte of the magic number) and the big-endian dtypes they stand for.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """Read an IDX file (the MNIST format), optionally gzip-compressed (``.gz``).

    Layout: two zero bytes, a type code byte, the number of dimensions ``d``, then ``d``
    big-endian uint32 sizes and the values, big-endian, in C order. Returns a native-endian
    array of that shape (uint8 for MNIST).
    """
    fn = "read_idx"
    path = _check_file(fn, path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # gzip's magic, whatever the file is called
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            fail(fn, f"{path}: corrupt gzip data: {err}")
    if len(raw) < 4:
        fail(fn, f"{path}, byte {len(raw)}: truncated header, expected 4 magic bytes, file has "
             f"{len(raw)}")
    if raw[0] != 0 or raw[1] != 0:
        fail(fn, f"{path}, byte 0: not an IDX file, magic number must start with two zero "
             f"bytes, got {raw[:2].hex()}")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        fail(fn, f"{path}, byte 2: unknown data type code 0x{code:02x}, expected one of "
             f"{', '.join(f'0x{c:02x}' for c in _IDX_DTYPES)}")
    header_end = 4 + 4 * ndim
    if len(raw) < header_end:
        fail(fn, f"{path}, byte {len(raw)}: truncated header, expected {ndim} dimension sizes "
             f"({header_end} bytes), file has {len(raw)} bytes")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(raw) - header_end
    if got != expected:
        what = "truncated data" if got < expected else "trailing bytes after the data"
        fail(fn, f"{path}, byte {header_end}: {what}, shape {shape} of {dtype.name} needs "
             f"{expected} bytes, file has {got}")
    data = np.frombuffer(raw, dtype=dtype, offset=header_end).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def text_dataset(texts, labels, vocab: Vocab | None = None, level: str = "word",
                 min_freq: int = 1, max_size: int | None = None, max_len: int | None = None):
    """Encode ``texts`` into a dataset of ``(tokens, label)`` examples ready for pad_collate.

    Builds a Vocab from ``texts`` unless ``vocab`` is given (give the training set's vocab when
    encoding validation or test texts). ``max_len`` truncates long sequences.
    Returns ``(dataset, vocab)``.
    """
    fn = "text_dataset"
    if isinstance(texts, str):
        fail(fn, "texts must be a list of strings, got a single str", TypeError)
    texts = list(texts)
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(texts):
        fail(fn, f"labels must be 1-D with one entry per text ({len(texts)}), got shape "
             f"{labels.shape}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        fail(fn, f"labels must be integers, got dtype {labels.dtype}", TypeError)
    if vocab is None:
        vocab = Vocab.build(texts, level=level, min_freq=min_freq, max_size=max_size)
    elif not isinstance(vocab, Vocab):
        fail(fn, f"vocab must be a Vocab or None, got {type(vocab).__name__}", TypeError)
    if max_len is not None:
        max_len = check_int(fn, "max_len", max_len, min_value=1)
    tokens = [np.array(vocab.encode(t)[:max_len], dtype=np.int64) for t in texts]
    dataset = TensorDataset(tokens, labels.astype(np.int64), names=("tokens", "label"),
                            meta={"length": np.array([len(t) for t in tokens], dtype=np.int64)})
    return dataset, vocab
