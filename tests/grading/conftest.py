"""A fake exercise, built in a temporary folder, to test the grader without the real course.

Every fake exercise ``NN_fake`` has the same three functions and graded tests (7 points):
``double`` (2 + 1 points), ``row_argmax`` (3 points) and ``double`` again, parametrized over two
scales (0.5 point each). Only ``student.py`` changes between them: a stub, a correct one, a wrong
one, one that hangs, one that crashes the interpreter...
"""

import json
import sys
import textwrap
import uuid

import pytest

from tinydyn.grading import regenerate

SOLUTION_MODULE = '''
import numpy as np

TITLE = "a fake exercise"
LESSON = "lessons/{nn}_fake.py"
ALLOWED_IMPORTS = ("numpy", "numba", "os")  # os: the crashing student calls os._exit


def make_references(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 4))
    return {{"x": x, "double": 2.0 * x, "row_argmax": np.argmax(x, axis=1)}}


class SOLUTION:
    @staticmethod
    def double(x):
        return 2.0 * x

    @staticmethod
    def row_argmax(x):
        return np.argmax(x, axis=1)
'''

TESTS = '''
import pytest

pytestmark = pytest.mark.exercise("{nn}")


@pytest.mark.points(2)
def test_double(impl, refs, check):
    check.allclose(impl.double(refs["x"]), refs["double"], "double")


@pytest.mark.points(1)
def test_double_keeps_shape(impl, refs):
    assert impl.double(refs["x"]).shape == refs["x"].shape


@pytest.mark.points(3)
def test_row_argmax(impl, refs, check):
    check.equal(impl.row_argmax(refs["x"]), refs["row_argmax"], "row_argmax")


@pytest.mark.points(0.5)
@pytest.mark.parametrize("scale", [1.0, -1.0])
def test_double_scaled(impl, refs, check, scale):
    check.allclose(impl.double(scale * refs["x"]), scale * refs["double"], "double")
'''

STUDENTS = {
    "stub": '''
def double(x):
    raise NotImplementedError("exercise {nn} (fake): implement double — see lesson {nn}")


def row_argmax(x):
    raise NotImplementedError("exercise {nn} (fake): implement row_argmax — see lesson {nn}")
''',
    "correct": '''
import numpy as np


def double(x):
    return x + x


def row_argmax(x):
    return np.argmax(x, axis=1)
''',
    # Only row_argmax is wrong: it must lose exactly that test's 3 points.
    "wrong": '''
import numpy as np


def double(x):
    return x + x


def row_argmax(x):
    return np.argmin(x, axis=1)
''',
    # A jitted loop that never ends: signals cannot stop it, only a kill can.
    "hang": '''
import numpy as np
from numba import njit


@njit(cache=False)
def spin(n):
    i = 0
    while i >= 0:
        i = (i + n) % 1000003
    return i


def double(x):
    return x + x


def row_argmax(x):
    spin(1)
    return np.argmax(x, axis=1)
''',
    # Endless recursion in double: the message must keep the RecursionError in view.
    "recurses": '''
import numpy as np


def double(x, depth=0):
    return double(x, depth + 1)


def row_argmax(x):
    return np.argmax(x, axis=1)
''',
    "crash": '''
import os

import numpy as np


def double(x):
    return x + x


def row_argmax(x):
    print("about to crash", flush=True)
    os._exit(3)
''',
    "raises": '''
import numpy as np


def helper(x):
    return x.reshape(5, 5)


def double(x):
    return helper(x)


def row_argmax(x):
    return np.argmax(x, axis=1)
''',
    # Copies the stored answer: passes against references.npz, fails at any other seed.
    "hardcoded": '''
from pathlib import Path

import numpy as np

_STORED = dict(np.load(Path(__file__).parent / "references.npz"))


def double(x):
    return _STORED["double"] * np.sign(x[0, 0]) * np.sign(_STORED["x"][0, 0])


def row_argmax(x):
    return _STORED["row_argmax"]
''',
    "syntax_error": '''
def double(x)
    return x + x
''',
}

POINTS = {"test_double": 2.0, "test_double_keeps_shape": 1.0, "test_row_argmax": 3.0,
          "test_double_scaled": 1.0}
TOTAL = sum(POINTS.values())


@pytest.fixture(scope="session")
def solutions(tmp_path_factory):
    """(package name, folder to put on PYTHONPATH) of fake ``exNN_fake`` solution modules."""
    base = tmp_path_factory.mktemp("solutions")
    name = f"fake_solutions_{uuid.uuid4().hex[:8]}"
    package = base / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    for n in range(1, 10):
        nn = f"{n:02d}"
        (package / f"ex{nn}_fake.py").write_text(SOLUTION_MODULE.format(nn=nn))
    sys.path.insert(0, str(base))  # for regenerate() in this process
    yield name, base
    sys.path.remove(str(base))


@pytest.fixture(scope="session")
def make_root(tmp_path_factory, solutions):
    """``make_root({"01": "stub", ...})`` -> an exercises root with references and manifest."""
    package, _ = solutions

    def make(students: dict, seed: int = 0, imports=None):
        root = tmp_path_factory.mktemp("exercises")
        for nn, kind in students.items():
            folder = root / f"{nn}_fake"
            folder.mkdir()
            (folder / "student.py").write_text(textwrap.dedent(STUDENTS[kind].format(nn=nn)))
            (folder / f"test_{nn}_fake.py").write_text(TESTS.format(nn=nn))
        if imports is not None:  # the instructor's relaxations, kept by regenerate
            (root / "manifest.json").write_text(json.dumps({"imports": imports}))
        regenerate(root, seed=seed, solutions=package)
        return root

    return make


@pytest.fixture(scope="session")
def grade_env(solutions):
    """Keyword arguments that let ``grade`` find the fake solutions in its subprocesses."""
    package, base = solutions
    return {"solutions": package, "env": {"PYTHONPATH": str(base)}}
