"""The library's side of each graded exercise: one module ``exNN_topic`` per folder
``exercises/NN_topic/``.

Each module holds

- ``TITLE`` and ``LESSON`` (the lesson the exercise follows),
- ``make_references(seed) -> dict[str, np.ndarray]``: the inputs the graded tests feed the
  student's functions and the outputs the library computes from them, all drawn from
  ``np.random.default_rng(seed)`` (``tinydyn grade --regenerate`` stores them as
  ``references.npz``; ``--seed N`` recomputes them on the spot),
- ``SOLUTION``: an object with the same function names as the exercise's ``student.py``,
  implemented by calling the library (``tinydyn grade --solution`` grades it).

Modules are imported by name when needed (``importlib``), never all at once here.
"""
