"""Graded tests of exercise 02 (kernels): 10 points.

Every test calls the functions of ``student.py`` (fixture ``impl``) on the stored inputs
(fixture ``refs``) and compares with the library's result (fixture ``check``). The functions
update ``out`` in place, so the tests look at ``out`` after the call, not at a return value.
"""

import inspect
import re

import numba
import numpy as np
import pytest
from numba.core.dispatcher import Dispatcher

pytestmark = pytest.mark.exercise("02")


def _scatter(fn, refs):
    out = refs["out"]
    fn(out, refs["index"], refs["src"])
    return out


def _many(refs, rows=20_000, destinations=50, width=8):
    """A larger input with every destination repeated hundreds of times."""
    rng = np.random.default_rng(refs["many_seed"].item())
    out = rng.standard_normal((destinations, width))
    index = rng.integers(0, destinations, size=rows).astype(np.int64)
    return out, index, rng.standard_normal((rows, width))


def _is_compiled(fn) -> bool:
    if isinstance(fn, Dispatcher):
        return True
    if numba.config.DISABLE_JIT:  # then @njit hands back the plain function: look for it
        try:
            source = inspect.getsource(fn)
        except (OSError, TypeError):
            return False
        return re.search(r"^\s*@(numba\.)?n?jit\b", source, re.MULTILINE) is not None
    return False


# ---- the Numba kernel ---------------------------------------------------------------------------


@pytest.mark.points(2)
def test_numba_kernel_values(impl, refs, check):
    out = _scatter(impl.scatter_add_rows_numba, refs)
    check.allclose(out, refs["expected"], "out after scatter_add_rows_numba")


@pytest.mark.points(2)
def test_numba_kernel_is_compiled(impl, refs):
    _scatter(impl.scatter_add_rows_numba, refs)  # a stub is "not attempted", not "failed"
    fn = impl.scatter_add_rows_numba
    assert _is_compiled(fn), (f"scatter_add_rows_numba is a plain {type(fn).__name__}, not a "
                              f"Numba function: decorate it with @njit(cache=True)")


# ---- the NumPy twin -----------------------------------------------------------------------------


@pytest.mark.points(2)
def test_numpy_twin_values(impl, refs, check):
    out = _scatter(impl.scatter_add_rows_numpy, refs)
    check.allclose(out, refs["expected"], "out after scatter_add_rows_numpy")


@pytest.mark.points(1)
def test_numpy_twin_empty_index_is_a_no_op(impl, refs, check):
    out = refs["out"]
    width = out.shape[1]
    impl.scatter_add_rows_numpy(out, np.zeros(0, np.int64), np.zeros((0, width)))
    check.equal(out, refs["out"], "out after scattering no rows")


@pytest.mark.points(1)
def test_numpy_twin_does_not_loop_over_rows(impl, refs):
    # Python code that indexes an array once per row (index[i], src[i], `for row in src`) goes
    # through __getitem__; whole-array code indexes a handful of times whatever the row count.
    class Counting(np.ndarray):
        reads = 0

        def __getitem__(self, key):
            Counting.reads += 1
            return super().__getitem__(key)

    out, index, src = _many(refs, rows=2_000)
    impl.scatter_add_rows_numpy(out, index.view(Counting), src.view(Counting))
    assert Counting.reads < 100, (
        f"scatter_add_rows_numpy indexed its inputs {Counting.reads} times for "
        f"{len(index)} rows: replace the Python loop over rows with whole-array operations")


# ---- the two together ---------------------------------------------------------------------------


@pytest.mark.points(2)
def test_twin_equals_numba_on_many_repeats(impl, refs, check):
    out, index, src = _many(refs)
    by_numpy, by_numba = out.copy(), out.copy()
    impl.scatter_add_rows_numpy(by_numpy, index, src)
    impl.scatter_add_rows_numba(by_numba, index, src)
    check.allclose(by_numpy, by_numba,
                   f"numpy twin (received) vs numba kernel (expected), {len(index)} rows into "
                   f"{len(out)}")
