"""The run-time half of the integrity checks: refuse what a student's code does while it runs.

While a :class:`Guard` is installed, every import made *by a student module's own code* (an
``import`` statement, ``__import__``, ``importlib.import_module``) is checked against that
exercise's :class:`~tinydyn.grading.integrity.ImportPolicy`, and every file opened, ``exec`` or
``compile`` while a student frame is on the stack is checked too (an audit hook, PEP 578). Code
counts as the student's when its frame runs in ``student.py`` or in its module's namespace, so
the library, NumPy and Numba import freely on the student's behalf.

A refusal raises :class:`~tinydyn.grading.integrity.NotAllowed` *and* is recorded with the line,
so a student who catches the exception still loses the test (the plugin reads the record).
This is a guard against shortcuts, not a sandbox: see the instructors' page for its limits.
"""

from __future__ import annotations

import builtins
import hashlib
import importlib
import importlib.util
import linecache
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from tinydyn.grading.integrity import (
    PROTECTED_FILES,
    Finding,
    ImportPolicy,
    NotAllowed,
    check_import,
    not_allowed_message,
)

_ACTIVE = None  # the installed Guard, read by the process-wide audit hook
_HOOKED = False  # audit hooks cannot be removed: add ours once, let it do nothing when idle


@dataclass
class Violation:
    """A refusal: which student module, during which phase (``"import"`` or a test id)."""

    module: str
    phase: str
    finding: Finding
    message: str


@dataclass
class _Student:
    module: str
    file: str
    policy: ImportPolicy


class Guard:
    """Watches registered student modules; :meth:`install` it, :meth:`uninstall` when done."""

    def __init__(self, protected_dirs=()):
        """``protected_dirs``: {folder: package name} whose files student code may not open
        unless its policy allows that package (the solutions package)."""
        self.students: dict = {}  # module name -> _Student
        self.files: dict = {}  # file name as the code objects carry it -> _Student
        self.protected_dirs = {Path(d).resolve(): p for d, p in dict(protected_dirs).items()}
        self.violations: list = []
        self.phase = "import"
        self._saved = None

    # -- registration ------------------------------------------------------------------------
    def add_student(self, module_name: str, path, policy: ImportPolicy) -> None:
        student = _Student(module_name, str(path), policy)
        self.students[module_name] = student
        self.files[str(path)] = student

    def violations_for(self, module_name: str, phase: str) -> list:
        """Refusals while importing ``module_name`` (they spoil every test) or during ``phase``."""
        return [v for v in self.violations
                if v.module == module_name and v.phase in ("import", phase)]

    # -- installing --------------------------------------------------------------------------
    def install(self) -> Guard:
        global _ACTIVE, _HOOKED
        if self._saved is None:
            self._saved = (builtins.__import__, importlib.import_module, importlib.__import__)
            original_import, original_import_module, _ = self._saved
            builtins.__import__ = self._wrap_import(original_import)
            importlib.__import__ = builtins.__import__
            importlib.import_module = self._wrap_import_module(original_import_module)
        if not _HOOKED:
            sys.addaudithook(_audit)
            _HOOKED = True
        _ACTIVE = self
        return self

    def uninstall(self) -> None:
        global _ACTIVE
        if self._saved is not None:
            builtins.__import__, importlib.import_module, importlib.__import__ = self._saved
            self._saved = None
        if _ACTIVE is self:
            _ACTIVE = None

    # -- the checks --------------------------------------------------------------------------
    def student_of(self, frame):
        """The registered student a frame belongs to, or None."""
        student = self.files.get(frame.f_code.co_filename)
        if student is None:
            student = self.students.get(frame.f_globals.get("__name__"))
        return student

    def student_on_stack(self, frame):
        """(student, its innermost frame) if any frame from ``frame`` outwards is a student's."""
        while frame is not None:
            student = self.student_of(frame)
            if student is not None:
                return student, frame
            frame = frame.f_back
        return None, None

    def refuse(self, student, frame, reason: str):
        lineno = frame.f_lineno
        source = linecache.getline(frame.f_code.co_filename, lineno).strip()
        finding = Finding(lineno, source or "(source not available)", reason)
        message = not_allowed_message([finding], student.policy, Path(student.file).name)
        self.violations.append(Violation(student.module, self.phase, finding, message))
        raise NotAllowed(message)

    def _wrap_import(self, original):
        def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
            frame = sys._getframe(1)
            student = self.student_of(frame)
            if student is not None and student.policy.enforce:
                if level:
                    self.refuse(student, frame, "a relative import: student.py is not part of "
                                                "a package")
                reason = check_import(student.policy, name, fromlist)
                if reason:
                    self.refuse(student, frame, reason)
            return original(name, globals, locals, fromlist, level)

        return guarded_import

    def _wrap_import_module(self, original):
        def guarded_import_module(name, package=None):
            frame = sys._getframe(1)
            student = self.student_of(frame)
            if student is not None and student.policy.enforce:
                if str(name).startswith("."):
                    self.refuse(student, frame, f"a relative import of {name}")
                # import_module returns the module itself: judge it as `from parent import leaf`
                parent, _, leaf = str(name).rpartition(".")
                reason = check_import(student.policy, parent, [leaf]) if parent else \
                    check_import(student.policy, leaf)
                if reason:
                    self.refuse(student, frame, reason)
            return original(name, package)

        return guarded_import_module

    def protected(self, path, policy: ImportPolicy | None = None) -> bool:
        """Whether student code may not open ``path``: stored references, the manifest, and
        files under the protected folders whose package ``policy`` does not allow (None:
        whatever any policy allows)."""
        if isinstance(path, int):
            return False
        try:
            text = os.fsdecode(path)
        except TypeError:
            return False
        if os.path.basename(text) in PROTECTED_FILES:
            return True
        if not self.protected_dirs:
            return False
        resolved = Path(text).resolve()
        return any((resolved == d or d in resolved.parents) and
                   (policy is None or not policy.allows(package))
                   for d, package in self.protected_dirs.items())


# -- importing student.py under the guard -----------------------------------------------------

def student_module_name(path: Path, folder_name: str) -> str:
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    return f"tinydyn_student_{re.sub(r'[^A-Za-z0-9_]', '_', folder_name)}_{digest}"


def package_dirs(package: str) -> dict:
    """{folder: package} of the solutions package: student code may not open its files."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return {}
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    return {folder: package for folder in folders}


def import_student(path: Path, folder_name: str, guard=None, policy=None):
    if not path.is_file():
        raise FileNotFoundError(f"tinydyn grading: {path} is missing")
    name = student_module_name(path, folder_name)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    if guard is not None:  # registered first: the module-level imports are watched too
        guard.add_student(name, spec.origin, policy)
    sys.modules[name] = module  # Numba's cache and dataclasses look modules up by name
    phase = guard.phase if guard is not None else None
    try:
        if guard is not None:
            guard.phase = "import"
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        if guard is not None:
            guard.phase = phase
    return module


def _audit(event, args):
    guard = _ACTIVE
    if guard is None or not guard.students or event not in ("open", "exec", "compile"):
        return
    if event == "open":
        if not args or not guard.protected(args[0]):  # cheap test first: most opens pass
            return
        student, frame = guard.student_on_stack(sys._getframe(1))
        if student is not None and student.policy.enforce and guard.protected(args[0],
                                                                              student.policy):
            guard.refuse(student, frame, f"opens {os.path.basename(os.fsdecode(args[0]))}: the "
                                         f"tests feed the functions their inputs")
        return
    # exec/eval/compile called directly by student code (the import system and libraries such
    # as dataclasses call them from their own frames, which are not the student's)
    frame = sys._getframe(1)
    student = guard.student_of(frame)
    if student is not None and student.policy.enforce:
        guard.refuse(student, frame, "runs code built at run time (exec, eval or compile)")
