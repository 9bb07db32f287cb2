"""The course machinery: execute the lessons, build the docs site, serve it.

- :mod:`tinydyn.course.lessons` runs each ``lessons/NN_topic.py`` in its own Jupyter kernel and
  writes the executed notebook to ``build/course/lessons/`` (cached on the lesson's and the
  library's hashes).
- :mod:`tinydyn.course.site` assembles the mkdocs ``docs_dir`` (docs, executed lessons, generated
  exercise and benchmark pages, API reference) and runs ``mkdocs build --strict``.
- :mod:`tinydyn.course.commands` adds ``tinydyn lessons run`` and ``tinydyn course`` to the CLI.

These need the ``course`` extra: ``pip install -e ".[course]"``.
"""

from tinydyn.course.paths import CoursePaths, find_root

__all__ = ["CoursePaths", "find_root"]
