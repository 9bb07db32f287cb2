"""The rules of what a student file may use, and the static check that reads its source."""

import json
import textwrap

import pytest

from tinydyn.grading.integrity import (
    ImportPolicy,
    check_import,
    check_source,
    declared,
    load_policy,
)

POLICY = ImportPolicy("03_skim_rnn", ("numpy", "math"))


def findings(tmp_path, source, policy=POLICY):
    path = tmp_path / "student.py"
    path.write_text(textwrap.dedent(source))
    return [(f.line, f.reason) for f in check_source(path, policy)]


def test_allowed_module_allows_its_submodules_and_nothing_beside_it():
    assert check_import(POLICY, "numpy.linalg") is None
    assert check_import(POLICY, "numpyx") == "imports numpyx"
    assert check_import(POLICY, "tinydyn") == "imports tinydyn"


def test_from_import_is_judged_on_the_names_it_takes():
    policy = ImportPolicy("x", ("numpy", "tinydyn.autograd"))
    assert check_import(policy, "tinydyn", ["autograd"]) is None
    assert check_import(policy, "tinydyn", ["autograd", "dynamic"]) == "imports tinydyn.dynamic"
    assert check_import(policy, "tinydyn", ["*"]) == "imports tinydyn"


def test_plain_import_of_an_allowed_submodule_must_use_the_from_form():
    policy = ImportPolicy("x", ("numpy", "tinydyn.autograd"))
    assert "write `from tinydyn.autograd import ...`" in check_import(policy, "tinydyn.autograd")


def test_standard_modules_are_always_allowed():
    assert check_import(POLICY, "itertools") is None
    assert check_import(POLICY, "os") == "imports os"


def test_switched_off_policy_allows_anything():
    assert check_import(ImportPolicy("x", (), enforce=False), "tinydyn.grading") is None


def test_untouched_stub_docstring_naming_references_is_not_a_finding(tmp_path):
    assert findings(tmp_path, '''
        """Tests feed you the inputs stored in ``references.npz``."""
        import numpy as np
        from math import sqrt


        def f(x):
            """Uses references.npz? no."""
            raise NotImplementedError("exercise 03")
        ''') == []


def test_each_shortcut_is_found_with_its_line(tmp_path):
    assert findings(tmp_path, '''
        import os
        from tinydyn.kernels import skim_rnn
        from . import sibling
        import numpy as np
        x = __import__("tinydyn")
        y = np.load("a.npy")
        z = "../references.npz"
        w = np.__builtins__
        exec("1")
        p = __file__
        q = np.sys.modules
        ''') == [(2, "imports os"), (3, "imports tinydyn.kernels"),
                 (4, "a relative import: student.py is not part of a package"),
                 (6, "uses __import__, which imports by name at run time"),
                 (7, "reads a file with .load(): the functions get their data as arguments"),
                 (8, "names the stored references: the tests feed the functions their inputs"),
                 (9, "uses .__builtins__, which reaches the builtins (and __import__)"),
                 (10, "uses exec, which runs code built at run time"),
                 (11, "uses __file__, which locates files beside student.py (such as "
                      "references.npz)"),
                 (12, "uses .modules, which reaches every loaded module (sys.modules)"),
                 (12, "uses .sys, which reaches the interpreter (numba.sys, for one)")]


def test_a_file_that_does_not_parse_has_no_findings(tmp_path):
    assert findings(tmp_path, "import tinydyn\ndef f(:\n") == []


def test_real_exercises_declare_their_allowed_imports():
    assert declared("02_kernels")["ALLOWED_IMPORTS"] == ("numpy", "numba", "math")
    assert declared("03_skim_rnn")["ALLOWED_IMPORTS"] == ("numpy", "math")


def test_manifest_adds_modules_or_switches_the_checks_off(tmp_path):
    for name in ("02_kernels", "03_skim_rnn", "04_vcrnn"):
        (tmp_path / name).mkdir()
    (tmp_path / "manifest.json").write_text(json.dumps({"imports": {
        "02_kernels": {"allow": ["tinydyn.autograd"]}, "03_skim_rnn": {"allow": "any"}}}))
    relaxed = load_policy(tmp_path / "02_kernels")
    assert relaxed.allowed == ("numpy", "numba", "math", "tinydyn.autograd")
    assert "relaxed by the instructor: tinydyn.autograd" in relaxed.describe()
    assert not load_policy(tmp_path / "03_skim_rnn").enforce
    assert load_policy(tmp_path / "04_vcrnn").allowed == ("numpy", "math")


def test_malformed_relaxation_is_refused_with_the_key(tmp_path):
    (tmp_path / "03_skim_rnn").mkdir()
    (tmp_path / "manifest.json").write_text(json.dumps({"imports": {
        "03_skim_rnn": {"allow": "tinydyn"}}}))
    with pytest.raises(TypeError, match=r"imports\.03_skim_rnn\.allow must be a list"):
        load_policy(tmp_path / "03_skim_rnn")
