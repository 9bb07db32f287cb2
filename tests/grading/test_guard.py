"""The run-time guard, in this process: a student module's own imports and file reads are
checked, the library's are not, and a refusal is recorded even when the student catches it."""

import textwrap
from pathlib import Path

import numpy as np
import pytest

from tinydyn.grading.guard import Guard, import_student, student_module_name
from tinydyn.grading.integrity import ImportPolicy, NotAllowed

# importlib allowed, so that only the run-time guard stands in the way of what it imports
POLICY = ImportPolicy("01_fake", ("numpy", "importlib"))


@pytest.fixture
def student(tmp_path):
    """``student(source)`` -> (module, guard), imported under an installed guard."""
    guards = []

    def load(source, policy=POLICY):
        folder = tmp_path / "01_fake"
        folder.mkdir(exist_ok=True)
        path = folder / "student.py"
        path.write_text(textwrap.dedent(source))
        guard = Guard().install()
        guards.append(guard)
        try:
            return import_student(path, folder.name, guard, policy), guard
        except NotAllowed:
            return None, guard

    yield load
    for guard in guards:
        guard.uninstall()


def test_importlib_import_module_of_tinydyn_is_refused_at_the_line(student):
    module, guard = student('''
        import importlib


        def f():
            return importlib.import_module("tinydyn.kernels.scatter")
        ''')
    guard.phase = "test_f"
    with pytest.raises(NotAllowed, match=r"student.py line 6: imports tinydyn.kernels"):
        module.f()
    assert [v.phase for v in guard.violations] == ["test_f"]


def test_refusal_while_importing_is_recorded_even_when_caught(student):
    module, guard = student('''
        import importlib
        try:
            importlib.import_module("tinydyn")
        except Exception:
            pass
        ''')
    assert module is not None
    name = student_module_name(Path(module.__file__), "01_fake")
    [violation] = guard.violations_for(name, "a_test")
    assert violation.phase == "import" and violation.finding.line == 4


def test_library_imports_made_on_the_students_behalf_are_not_checked(student):
    module, guard = student('''
        import numpy as np


        def f(x):
            return np.linalg.norm(x)
        ''')
    import tinydyn.kernels.scatter  # noqa: F401  (the grader's own import, outside the student)

    assert module.f(np.ones(4)) == 2.0 and guard.violations == []


def test_reading_references_through_numpy_is_refused(student, tmp_path):
    refs = tmp_path / "01_fake" / "references.npz"
    module, guard = student(f'''
        import numpy as np


        def f():
            return np.load({str(refs)!r})
        ''')
    np.savez(refs, a=np.ones(2))  # the grader itself may read it
    with pytest.raises(NotAllowed, match=r"line 6: opens references.npz"):
        module.f()


def test_exec_from_student_code_is_refused(student):
    module, _ = student('''
        def f():
            return eval("1 + 1")
        ''')
    with pytest.raises(NotAllowed, match=r"line 3: runs code built at run time"):
        module.f()


def test_uninstall_restores_the_import_machinery(student):
    import builtins
    import importlib

    before = builtins.__import__, importlib.import_module
    guard = Guard().install()
    assert builtins.__import__ is not before[0]
    guard.uninstall()
    assert (builtins.__import__, importlib.import_module) == before
