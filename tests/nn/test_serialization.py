"""save/load: round trips, the format marker, refusal of damaged or foreign files, atomicity."""

import os
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import tinydyn as td
import tinydyn.nn as nn
from tinydyn.nn.serialization import FORMAT, VERSION, load, save


def model(seed=0):
    rng = np.random.default_rng(seed)
    net = nn.Sequential(nn.Embedding(7, 4, padding_idx=0, rng=rng), nn.LayerNorm(4),
                        nn.Linear(4, 3, rng=rng))
    net.register_buffer("steps", np.array(5, dtype=np.int64))
    return net


def test_module_round_trip_restores_every_array_in_order(tmp_path):
    path = tmp_path / "model.npz"
    source, target = model(0), model(1)
    save(source, path)
    state = load(path)
    assert isinstance(state, OrderedDict) and list(state) == list(source.state_dict())
    target.load_state_dict(state)
    idx = td.tensor(np.array([[1, 2, 0]]))
    np.testing.assert_array_equal(target(idx).data, source(idx).data)
    assert state["steps"].shape == () and state["steps"].dtype == np.int64


def test_state_dict_round_trip_keeps_dtypes_and_shapes(tmp_path):
    path = str(tmp_path / "state.npz")
    state = OrderedDict([("a.w", np.arange(6, dtype=np.float64).reshape(2, 3)),
                         ("b", td.ones(2)), ("file", np.zeros(0, dtype=np.float32))])
    save(state, path)
    loaded = load(path)
    assert list(loaded) == ["a.w", "b", "file"]
    np.testing.assert_array_equal(loaded["a.w"], state["a.w"])
    assert loaded["b"].dtype == np.float32 and loaded["file"].shape == (0,)


def test_file_is_a_plain_npz_with_a_format_marker(tmp_path):
    path = tmp_path / "m.npz"
    save(model(), path)
    with np.load(path, allow_pickle=False) as archive:
        assert str(archive["__tinydyn_format__"]) == FORMAT
        assert int(archive["__tinydyn_version__"]) == VERSION
        assert "state/2.weight" in archive.files


def test_no_temporary_file_is_left_behind(tmp_path):
    save(model(), tmp_path / "m.npz")
    assert os.listdir(tmp_path) == ["m.npz"]


def test_failing_save_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    save(model(0), path)
    before = path.read_bytes()

    def broken_savez(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        save(model(1), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]


def test_truncated_file_is_refused_naming_the_path(tmp_path):
    path = tmp_path / "m.npz"
    save(model(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"load: '.*m\.npz' is not a readable \.npz checkpoint "
                       r"\(truncated, corrupt, or another format\)"):
        load(path)


def test_corrupted_member_is_refused(tmp_path):
    path = tmp_path / "m.npz"
    save({"w": np.arange(1000, dtype=np.float64)}, path)
    data = bytearray(path.read_bytes())
    data[400:420] = b"\xff" * 20  # inside the array bytes: the zip CRC check fails
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"load: '.*m\.npz' is not a readable \.npz checkpoint"):
        load(path)


def test_foreign_npz_is_refused(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, weights=np.ones(3))
    with pytest.raises(ValueError, match=r"load: '.*other\.npz' is not a tinydyn checkpoint: the "
                       r"\.npz has no '__tinydyn_format__' entry \(found \['weights'\]\)"):
        load(path)


def test_non_npz_files_are_refused(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("hello, not an archive\n")
    with pytest.raises(ValueError, match=r"load: '.*notes\.npz' is not a readable \.npz "
                       r"checkpoint"):
        load(text)
    npy = tmp_path / "array.npy"
    np.save(npy, np.ones(3))
    with pytest.raises(ValueError, match=r"load: '.*array\.npy' is not a tinydyn checkpoint: it "
                       r"holds a single \.npy array"):
        load(npy)


def test_pickled_objects_are_never_loaded(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, __tinydyn_format__=np.array(FORMAT), __tinydyn_version__=np.array(1),
             **{"state/x": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ValueError, match="not a readable .npz checkpoint"):
        load(path)


def test_newer_format_version_is_refused(tmp_path):
    path = tmp_path / "future.npz"
    np.savez(path, __tinydyn_format__=np.array(FORMAT), __tinydyn_version__=np.array(99))
    with pytest.raises(ValueError, match="was written by a newer tinydyn"):
        load(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"load: no such file: '.*absent\.npz'"):
        load(tmp_path / "absent.npz")


def test_save_argument_errors(tmp_path):
    with pytest.raises(TypeError, match="save: expected a Module or a state dict"):
        save([np.ones(2)], tmp_path / "x.npz")
    with pytest.raises(TypeError, match="save: cannot save a set at '/a': expected arrays"):
        save({"a": {1, 2}}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match=r"save: keys must be str or int, got \(1, 2\)"):
        save({"a": {(1, 2): np.ones(1)}}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="save: path must be a str or os.PathLike, got int"):
        save({}, 3)
    with pytest.raises(FileNotFoundError, match="save: directory .* does not exist"):
        save({}, tmp_path / "nope" / "x.npz")


def test_loading_a_mismatched_checkpoint_leaves_the_model_unchanged(tmp_path):
    path = tmp_path / "small.npz"
    save(nn.Linear(4, 2), path)
    target = nn.Linear(4, 3)
    before = target.weight.data.copy()
    with pytest.raises(ValueError, match="shape mismatch for 'weight'"):
        target.load_state_dict(load(path))
    np.testing.assert_array_equal(target.weight.data, before)


def test_zip_entries_are_written_in_state_order(tmp_path):
    path = tmp_path / "m.npz"
    save(model(), path)
    names = [n[len("state/"):-len(".npy")] for n in zipfile.ZipFile(path).namelist()
             if n.startswith("state/")]
    assert names == list(model().state_dict())


def test_nested_checkpoint_round_trips_model_optimizer_and_numbers(tmp_path):
    from tinydyn import optim

    m = nn.Linear(4, 3, rng=np.random.default_rng(0))
    opt = optim.Adam(m.parameters(), lr=1e-2)
    m(td.randn(2, 4)).sum().backward()
    opt.step()
    path = tmp_path / "ck.npz"
    save({"model": m.state_dict(), "optim": opt.state_dict(), "epoch": 3,
          "losses": [0.5, 0.25], "shape": (2, 4), "note": None}, path)
    ck = load(path)
    assert ck["epoch"] == 3 and ck["losses"] == [0.5, 0.25] and ck["shape"] == (2, 4)
    assert ck["note"] is None
    fresh = nn.Linear(4, 3, rng=np.random.default_rng(1))
    fresh.load_state_dict(ck["model"])
    opt2 = optim.Adam(fresh.parameters(), lr=1.0)
    opt2.load_state_dict(ck["optim"])
    assert opt2.param_groups[0]["lr"] == 1e-2
    for i, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            np.testing.assert_array_equal(opt2.state_dict()["state"][i][key], value)


def test_nested_checkpoint_keeps_array_dtypes_and_int_keys(tmp_path):
    path = tmp_path / "n.npz"
    save({"a": {0: np.arange(3, dtype=np.int16), 1: np.float32(2.5)}}, path)
    out = load(path)
    assert list(out["a"]) == [0, 1]
    assert out["a"][0].dtype == np.int16 and out["a"][1].dtype == np.float32
