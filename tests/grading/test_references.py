"""Stored references: regeneration, the manifest, and detecting stale files."""

import json

import numpy as np
import pytest

from tinydyn.grading import check_references, exercise_folders, regenerate
from tinydyn.grading.references import compare, load_npz, sha256, write_npz


@pytest.fixture
def root(make_root):
    return make_root({"01": "stub", "02": "stub"})


def test_regenerate_writes_make_references_output(root):
    refs = load_npz(root / "01_fake" / "references.npz")
    x = np.random.default_rng(0).standard_normal((3, 4))
    assert sorted(refs) == ["double", "row_argmax", "x"]
    np.testing.assert_array_equal(refs["x"], x)
    np.testing.assert_array_equal(refs["double"], 2 * x)


def test_manifest_records_seed_versions_and_sha256(root):
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["seed"] == 0
    assert set(manifest["versions"]) == {"python", "numpy", "numba", "tinydyn"}
    entry = manifest["exercises"]["01_fake"]
    assert entry == {"file": "01_fake/references.npz", "seed": 0,
                     "sha256": sha256(root / "01_fake" / "references.npz")}


def test_regenerating_unchanged_references_rewrites_identical_bytes(root, solutions):
    before = (root / "01_fake" / "references.npz").read_bytes()
    regenerate(root, ["01"], seed=0, solutions=solutions[0])
    assert (root / "01_fake" / "references.npz").read_bytes() == before
    assert not list(root.rglob("*.tmp"))


def test_regenerating_one_exercise_keeps_the_others_in_the_manifest(root, solutions):
    regenerate(root, ["02"], seed=5, solutions=solutions[0])
    entries = json.loads((root / "manifest.json").read_text())["exercises"]
    assert entries["01_fake"]["seed"] == 0 and entries["02_fake"]["seed"] == 5


def test_fresh_references_have_no_mismatch(root, solutions):
    assert check_references(root, solutions=solutions[0]) == []


def test_changed_values_are_reported_with_key_and_index(root, solutions):
    path = root / "02_fake" / "references.npz"
    refs = load_npz(path)
    refs["double"][1, 2] += 1e-3
    write_npz(path, refs)
    problems = check_references(root, solutions=solutions[0])
    assert "02_fake: sha256 of references.npz does not match manifest.json" in problems
    assert any(p.startswith("02_fake: double: 1 of 12 values differ") and "first at (1, 2)" in p
               for p in problems)


def test_missing_references_file_is_reported(root, solutions):
    (root / "01_fake" / "references.npz").unlink()
    assert "01_fake: references.npz is missing" in check_references(root, solutions=solutions[0])


def test_compare_reports_keys_shapes_and_dtypes():
    stored = {"a": np.zeros(3), "b": np.zeros(2, dtype=np.int64)}
    fresh = {"a": np.zeros(4), "c": np.zeros(1)}
    assert compare(stored, fresh) == [
        "keys differ: only stored ['b'], only regenerated ['c']",
        "a: stored (3,) float64, regenerated (4,) float64"]


def test_regenerate_rejects_a_negative_seed(root):
    with pytest.raises(TypeError, match="regenerate: seed must be a non-negative int, got -1"):
        regenerate(root, seed=-1)


def test_regenerate_rejects_an_unknown_exercise(root):
    with pytest.raises(ValueError, match="regenerate: no exercise '7' in .*available: 01_fake, "
                                         "02_fake"):
        regenerate(root, ["7"])


def test_exercise_folders_select_by_number_or_name(root):
    assert [f.name for f in exercise_folders(root, [2, "01_fake"])] == ["02_fake", "01_fake"]
    assert [f.name for f in exercise_folders(root, "02")] == ["02_fake"]


def test_exercise_folders_reject_a_float(root):
    with pytest.raises(TypeError, match="grade: exercise must be a number or a folder name, "
                                        "got float 1.0"):
        exercise_folders(root, [1.0])


def test_exercise_folders_need_an_existing_root(tmp_path):
    with pytest.raises(ValueError, match="grade: exercises root .*nope' is not a folder"):
        exercise_folders(tmp_path / "nope")


def test_write_npz_output_loads_without_pickle(tmp_path):
    path = write_npz(tmp_path / "r.npz", {"b": np.arange(3), "a": np.eye(2)})
    with np.load(path, allow_pickle=False) as data:
        assert sorted(data.files) == ["a", "b"]
        np.testing.assert_array_equal(data["b"], np.arange(3))


def test_make_references_must_return_numeric_arrays(tmp_path, monkeypatch):
    package = tmp_path / "bad_solutions_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "ex01_bad.py").write_text(
        "def make_references(seed):\n    return {'names': ['a', 'b']}\n")
    (tmp_path / "ex" / "01_bad").mkdir(parents=True)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TypeError, match="regenerate: bad_solutions_pkg.ex01_bad.make_references: "
                                        "'names' has dtype <U1, expected bool, int or float"):
        regenerate(tmp_path / "ex", solutions="bad_solutions_pkg")
