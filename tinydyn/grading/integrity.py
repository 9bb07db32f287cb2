"""What a student file may use, and the static check of it.

The package students install *is* the reference implementation: ``student.py`` could import an
exercise's ``SOLUTION``, call the library's method or kernel, or read ``references.npz`` and
return the stored outputs. Each exercise therefore declares the modules its student file may
import (``ALLOWED_IMPORTS`` in ``tinydyn.grading.exercises.exNN_topic``; :data:`DEFAULT_ALLOWED`
when it declares none), plus the harmless standard modules of :data:`STANDARD`. An instructor
relaxes the rule per exercise in ``exercises/manifest.json``::

    "imports": {"03_skim_rnn": {"allow": ["tinydyn.autograd"]},   # more modules
                "05_lstm_jump": {"allow": "any"}}                   # no import checks at all

Two checks apply the same rules (:func:`check_import`): :func:`check_source` reads the file's
syntax tree before it is imported, and :mod:`tinydyn.grading.guard` watches the imports and file
reads the student's code makes while it runs. Both report the line. Kept free of pytest.
"""

from __future__ import annotations

import ast
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path

from tinydyn.grading.layout import DEFAULT_SOLUTIONS, solution_module_name

# Standard modules with no way to reach files, other modules or the interpreter's internals.
STANDARD = ("__future__", "math", "cmath", "itertools", "functools", "collections", "typing",
            "dataclasses", "operator", "heapq", "bisect", "numbers", "fractions", "enum")
DEFAULT_ALLOWED = ("numpy", "math")
PROTECTED_FILES = ("references.npz", "manifest.json")

# Names that run code built at run time or reach the interpreter and files: a student function
# gets its data as arguments and has no use for them.
DYNAMIC_NAMES = {
    "__import__": "imports by name at run time",
    "exec": "runs code built at run time", "eval": "runs code built at run time",
    "compile": "compiles code at run time", "open": "opens a file",
    "globals": "reaches the module's namespace", "breakpoint": "starts a debugger",
    "__builtins__": "reaches the builtins (and __import__)",
    "__file__": "locates files beside student.py (such as references.npz)",
    "__loader__": "reaches the import machinery", "__spec__": "reaches the import machinery",
}
DYNAMIC_ATTRIBUTES = {
    "__builtins__": "reaches the builtins (and __import__)",
    "__globals__": "reaches another module's namespace",
    "__import__": "imports by name at run time", "__subclasses__": "walks every loaded class",
    "__code__": "reaches compiled code", "__loader__": "reaches the import machinery",
    "__spec__": "reaches the import machinery", "__file__": "locates a module's files",
    "sys": "reaches the interpreter (numba.sys, for one)",
    "modules": "reaches every loaded module (sys.modules)",
}
FILE_READERS = ("load", "loadtxt", "genfromtxt", "fromfile", "fromregex", "memmap")


class NotAllowed(Exception):
    """A student file used something its exercise does not allow (the message names the line).

    Catching it does not help: the guard records every refusal, and the test that caused it
    (every test, when it happened while importing ``student.py``) is reported ``not_allowed``.
    """


@dataclass(frozen=True)
class ImportPolicy:
    """The dotted names an exercise's student file may import (a name allows its submodules)."""

    exercise: str
    allowed: tuple = DEFAULT_ALLOWED
    enforce: bool = True  # False: the instructor switched the checks off ("allow": "any")
    relaxed: tuple = field(default=())  # what the manifest added, to say so in messages

    def allows(self, dotted: str) -> bool:
        if not self.enforce:
            return True
        return any(dotted == a or dotted.startswith(a + ".") for a in self.allowed + STANDARD)

    def describe(self) -> str:
        if not self.enforce:
            return f"exercise {self.exercise}: import checks switched off by the instructor"
        extra = f" (relaxed by the instructor: {', '.join(self.relaxed)})" if self.relaxed else ""
        return (f"exercise {self.exercise} allows: {', '.join(self.allowed)}{extra}, and the "
                f"standard modules {', '.join(s for s in STANDARD if s not in self.allowed)}. "
                f"tinydyn's solutions, methods and kernels are not allowed: the exercise asks "
                f"you to write them.")


def check_import(policy: ImportPolicy, name: str, fromlist=()) -> str | None:
    """Why ``import name`` (or ``from name import *fromlist``) is refused, or None if allowed.

    A plain ``import a.b`` binds ``a`` itself, so it needs ``a`` allowed; where only ``a.b`` is,
    the student writes ``from a.b import x``.
    """
    if not policy.enforce:
        return None
    fromlist = tuple(str(item) for item in (fromlist or ()))
    if fromlist:
        if policy.allows(name):
            return None
        bad = [item for item in fromlist if item == "*" or not policy.allows(f"{name}.{item}")]
        if not bad:
            return None
        return f"imports {name}" if len(bad) == len(fromlist) else f"imports {name}.{bad[0]}"
    top = name.partition(".")[0]
    if policy.allows(top):
        return None
    if policy.allows(name):
        return (f"`import {name}` binds the whole {top} package, of which only parts are "
                f"allowed: write `from {name} import ...`")
    return f"imports {name}"


@dataclass(frozen=True)
class Finding:
    """One refused construct in a student file."""

    line: int
    source: str
    reason: str

    def text(self, filename: str = "student.py") -> str:
        return f"{filename} line {self.line}: {self.reason}\n    {self.source}"


def not_allowed_message(findings, policy: ImportPolicy, filename: str = "student.py") -> str:
    """The message of a ``not_allowed`` test: every finding with its line, then the rule."""
    lines = ["not allowed: " + findings[0].text(filename)]
    lines += ["not allowed: " + f.text(filename) for f in findings[1:]]
    lines.append(policy.describe())
    if policy.enforce:
        lines.append("(an instructor can relax this per exercise: see the instructors' page)")
    return "\n".join(lines)


def check_source(path, policy: ImportPolicy) -> list:
    """Findings in the file at ``path``, from its syntax tree alone (it is never imported).

    A file that does not parse has no findings: importing it reports the syntax error.
    """
    path = Path(path)
    try:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, filename=str(path))
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return []
    if not policy.enforce:
        return []
    lines = source.splitlines()
    findings = []
    # docstrings and other bare strings are prose (the stubs' mention references.npz)
    prose = {id(n.value) for n in ast.walk(tree)
             if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}

    def add(node, reason):
        text = lines[node.lineno - 1].strip() if 0 < node.lineno <= len(lines) else ""
        findings.append(Finding(node.lineno, text, reason))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                reason = check_import(policy, alias.name)
                if reason:
                    add(node, reason)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                add(node, "a relative import: student.py is not part of a package")
                continue
            reason = check_import(policy, node.module, [a.name for a in node.names])
            if reason:
                add(node, reason)
        elif isinstance(node, ast.Name) and node.id in DYNAMIC_NAMES:
            add(node, f"uses {node.id}, which {DYNAMIC_NAMES[node.id]}")
        elif isinstance(node, ast.Attribute) and node.attr in DYNAMIC_ATTRIBUTES:
            add(node, f"uses .{node.attr}, which {DYNAMIC_ATTRIBUTES[node.attr]}")
        elif isinstance(node, ast.Attribute) and node.attr in FILE_READERS:
            add(node, f"reads a file with .{node.attr}(): the functions get their data as "
                      f"arguments")
        elif isinstance(node, ast.Constant) and id(node) not in prose and isinstance(
                node.value, str) and any(
                name in node.value for name in PROTECTED_FILES):
            add(node, "names the stored references: the tests feed the functions their inputs")
    findings.sort(key=lambda f: f.line)
    return findings


# -- where the rules come from ----------------------------------------------------------------

def declared(folder_name: str, package: str = DEFAULT_SOLUTIONS) -> dict:
    """The literal metadata of ``exNN_topic``: ``TITLE``, ``LESSON``, ``PREREQUISITES``,
    ``ALLOWED_IMPORTS``, read from its source (the module, which imports the library's methods,
    is not imported)."""
    name = solution_module_name(folder_name, package)
    try:
        spec = importlib.util.find_spec(name)
    except ModuleNotFoundError:
        spec = None
    if spec is None or not spec.origin or not Path(spec.origin).is_file():
        return {}
    found = {}
    for node in ast.parse(Path(spec.origin).read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                node.targets[0], ast.Name) and node.targets[0].id.isupper():
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return found


def relaxations(root) -> dict:
    """The ``imports`` section of ``manifest.json`` under ``root`` ({} when absent)."""
    try:
        data = json.loads((Path(root) / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    section = data.get("imports", {}) if isinstance(data, dict) else {}
    return section if isinstance(section, dict) else {}


def load_policy(folder, package: str = DEFAULT_SOLUTIONS) -> ImportPolicy:
    """The policy of the exercise folder ``folder``: its declaration plus the manifest's."""
    folder = Path(folder)
    allowed = declared(folder.name, package).get("ALLOWED_IMPORTS", DEFAULT_ALLOWED)
    if isinstance(allowed, str) or not all(isinstance(a, str) for a in allowed):
        raise TypeError(f"tinydyn grading: ALLOWED_IMPORTS of exercise {folder.name} must be a "
                        f"tuple of module names, got {allowed!r}")
    extra = relaxations(folder.parent).get(folder.name, {}).get("allow", ())
    if extra == "any":
        return ImportPolicy(folder.name, tuple(allowed), enforce=False)
    if isinstance(extra, str) or not all(isinstance(a, str) for a in extra):
        raise TypeError(f"tinydyn grading: manifest.json imports.{folder.name}.allow must be a "
                        f"list of module names or \"any\", got {extra!r}")
    return ImportPolicy(folder.name, tuple(allowed) + tuple(extra), relaxed=tuple(extra))
