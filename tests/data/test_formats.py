import gzip

import numpy as np
import pytest

from tinydyn.data import (
    DataLoader,
    Vocab,
    pad_collate,
    read_csv,
    read_idx,
    read_text_dir,
    read_tsv,
    text_dataset,
)


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def idx_bytes(array, code=0x08, dtype=">u1"):
    header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.astype(dtype).tobytes()


# ---- TSV (SST-2) ----------------------------------------------------------------------------

def test_read_tsv_reads_sentences_and_labels(tmp_path):
    path = write(tmp_path / "train.tsv", "sentence\tlabel\na fine film \t1\ndull , dull\t0\n")
    texts, labels = read_tsv(path)
    assert texts == ["a fine film ", "dull , dull"]
    assert labels.dtype == np.int64 and labels.tolist() == [1, 0]


def test_read_tsv_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"read_tsv: no such file: .*nope\.tsv"):
        read_tsv(tmp_path / "nope.tsv")


def test_read_tsv_wrong_field_count_names_the_line(tmp_path):
    path = write(tmp_path / "bad.tsv", "sentence\tlabel\nok\t1\nno label here\n")
    with pytest.raises(ValueError, match=r"read_tsv: .*bad\.tsv, line 3: expected 2 "
                                         r"tab-separated fields .* got 1"):
        read_tsv(path)


def test_read_tsv_non_integer_label_names_the_line(tmp_path):
    path = write(tmp_path / "bad.tsv", "sentence\tlabel\nok\tpos\n")
    with pytest.raises(ValueError, match=r"bad\.tsv, line 2: label must be an integer, "
                                         r"got 'pos'"):
        read_tsv(path)


def test_read_tsv_header_without_the_column(tmp_path):
    path = write(tmp_path / "bad.tsv", "text\tlabel\nok\t1\n")
    with pytest.raises(ValueError, match=r"line 1: header \['text', 'label'\] has no column "
                                         r"'sentence'"):
        read_tsv(path)


def test_read_tsv_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_bytes(b"sentence\tlabel\nok\t1\n\xff\t0\n")
    with pytest.raises(ValueError, match=r"bad\.tsv, line 3: not valid utf-8 text"):
        read_tsv(path)


# ---- CSV (AG News) --------------------------------------------------------------------------

def test_read_csv_joins_text_columns_and_handles_quotes(tmp_path):
    path = write(tmp_path / "train.csv",
                 '"3","Wall St. Bears","Short-sellers, Wall Street\'s dwindling band"\n'
                 '"4","New chip","A ""fast"" one"\n')
    texts, labels = read_csv(path)
    assert texts == ["Wall St. Bears Short-sellers, Wall Street's dwindling band",
                     'New chip A "fast" one']
    assert labels.tolist() == [3, 4]


def test_read_csv_columns_by_name_with_header(tmp_path):
    path = write(tmp_path / "h.csv", "label,text\n1,hello\n0,bye\n")
    texts, labels = read_csv(path, text_columns="text", label_column="label", header=True)
    assert texts == ["hello", "bye"] and labels.tolist() == [1, 0]


def test_read_csv_short_row_names_the_line(tmp_path):
    path = write(tmp_path / "bad.csv", '"1","a","b"\n"2","only title"\n')
    with pytest.raises(ValueError, match=r"read_csv: .*bad\.csv, line 2: expected at least 3 "
                                         r"fields, got 2"):
        read_csv(path)


def test_read_csv_bad_label_names_the_line(tmp_path):
    path = write(tmp_path / "bad.csv", '"1","a","b"\n"x","c","d"\n')
    with pytest.raises(ValueError, match=r"bad\.csv, line 2: label must be an integer, got 'x'"):
        read_csv(path)


def test_read_csv_malformed_quoting_names_the_line(tmp_path):
    path = write(tmp_path / "bad.csv", '"1","a","b"\n"2","a"x,"b"\n')
    with pytest.raises(ValueError, match=r"read_csv: .*bad\.csv, line 2: "):
        read_csv(path)


def test_read_csv_column_name_without_header_is_a_type_error(tmp_path):
    path = write(tmp_path / "a.csv", "1,a\n")
    with pytest.raises(TypeError, match="read_csv: column 'text' is a name but header=False"):
        read_csv(path, text_columns="text")


def test_read_csv_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"read_csv: no such file: .*x\.csv"):
        read_csv(tmp_path / "x.csv")


# ---- directory of text files (IMDB) ----------------------------------------------------------

def test_read_text_dir_labels_follow_sorted_folder_names(tmp_path):
    for cls, name, text in [("pos", "1.txt", "great"), ("neg", "1.txt", "awful"),
                            ("neg", "2.txt", "bad"), ("pos", "skip.md", "ignored")]:
        (tmp_path / cls).mkdir(exist_ok=True)
        write(tmp_path / cls / name, text)
    texts, labels, classes = read_text_dir(tmp_path)
    assert classes == ["neg", "pos"]
    assert texts == ["awful", "bad", "great"] and labels.tolist() == [0, 0, 1]


def test_read_text_dir_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"read_text_dir: no such directory: .*imdb"):
        read_text_dir(tmp_path / "imdb")


def test_read_text_dir_without_class_folders(tmp_path):
    with pytest.raises(ValueError, match="expected one sub-folder per class, found none"):
        read_text_dir(tmp_path)


def test_read_text_dir_empty_class_folder(tmp_path):
    (tmp_path / "pos").mkdir()
    with pytest.raises(ValueError, match=r"pos: class folder has no '\.txt' files"):
        read_text_dir(tmp_path)


# ---- IDX (MNIST) -----------------------------------------------------------------------------

def test_read_idx_round_trips_uint8_images(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "img.idx").write_bytes(idx_bytes(images))
    out = read_idx(tmp_path / "img.idx")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, images)


def test_read_idx_reads_gzip(tmp_path):
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    (tmp_path / "labels.idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    np.testing.assert_array_equal(read_idx(tmp_path / "labels.idx1-ubyte.gz"), labels)


def test_read_idx_big_endian_floats_become_native(tmp_path):
    values = np.array([[1.5, -2.0], [0.25, 8.0]])
    (tmp_path / "f.idx").write_bytes(idx_bytes(values, code=0x0D, dtype=">f4"))
    out = read_idx(tmp_path / "f.idx")
    assert out.dtype == np.float32 and out.dtype.byteorder in ("=", "<", "|")
    np.testing.assert_array_equal(out, values)


def test_read_idx_truncated_data_names_the_byte_offset(tmp_path):
    data = idx_bytes(np.zeros((2, 3, 4), dtype=np.uint8))[:-5]
    (tmp_path / "cut.idx").write_bytes(data)
    with pytest.raises(ValueError, match=r"read_idx: .*cut\.idx, byte 16: truncated data, "
                                         r"shape \(2, 3, 4\) of uint8 needs 24 bytes, file has 19"):
        read_idx(tmp_path / "cut.idx")


def test_read_idx_truncated_header(tmp_path):
    (tmp_path / "h.idx").write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 2]))
    with pytest.raises(ValueError, match=r"byte 8: truncated header, expected 3 dimension sizes "
                                         r"\(16 bytes\)"):
        read_idx(tmp_path / "h.idx")


def test_read_idx_bad_magic(tmp_path):
    (tmp_path / "m.idx").write_bytes(b"PK\x03\x04rest")
    with pytest.raises(ValueError, match=r"m\.idx, byte 0: not an IDX file, magic number must "
                                         r"start with two zero bytes, got 504b"):
        read_idx(tmp_path / "m.idx")


def test_read_idx_unknown_type_code(tmp_path):
    (tmp_path / "t.idx").write_bytes(bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 0]))
    with pytest.raises(ValueError, match="byte 2: unknown data type code 0x07"):
        read_idx(tmp_path / "t.idx")


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"read_idx: no such file: .*train-images"):
        read_idx(tmp_path / "train-images")


# ---- text_dataset ----------------------------------------------------------------------------

def test_text_dataset_encodes_and_batches_with_pad_collate():
    ds, vocab = text_dataset(["a b c", "b"], [1, 0])
    tokens, mask, lengths, labels = next(iter(DataLoader(ds, 2, collate_fn=pad_collate())))
    assert tokens.shape == (2, 3) and lengths.tolist() == [3, 1] and labels.tolist() == [1, 0]
    assert vocab.decode(tokens.data[1]) == "b"


def test_text_dataset_uses_a_given_vocab():
    vocab = Vocab.build(["a"])
    ds, same = text_dataset(["a z"], [0], vocab=vocab)
    assert same is vocab and ds[0][0].tolist() == [2, vocab.unk_id]


def test_text_dataset_truncates_to_max_len():
    ds, _ = text_dataset(["a b c d"], [0], max_len=2)
    assert len(ds[0][0]) == 2 and ds.length.tolist() == [2]


def test_text_dataset_labels_must_match_texts():
    with pytest.raises(ValueError, match=r"text_dataset: labels must be 1-D with one entry per "
                                         r"text \(2\), got shape \(1,\)"):
        text_dataset(["a", "b"], [0])
