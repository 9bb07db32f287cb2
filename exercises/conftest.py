"""Loads the grading plugin (fixtures impl, refs, check; markers exercise, points; the checks of
what student.py may import), so `pytest exercises/01_autograd` grades like `tinydyn grade 01`.
See exercises/README.md."""

pytest_plugins = ["tinydyn.grading.plugin"]
