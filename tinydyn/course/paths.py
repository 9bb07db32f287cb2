"""Where the course's sources live and where its build goes.

Everything generated goes under ``build/course/`` of the repository, which git ignores:

```
build/course/lessons/NN_topic.ipynb      executed lessons (+ NN_topic.hash.json, the cache key)
build/course/numba-cache/                Numba's on-disk cache, shared by all lesson kernels
build/course/kernels/                    the kernel spec pointing at this Python interpreter
build/course/docs/                       the assembled mkdocs docs_dir
build/course/mkdocs.yml                  mkdocs.yml with docs_dir, site_dir and nav filled in
build/course/site/                       the built HTML site
```
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tinydyn


@dataclass(frozen=True)
class CoursePaths:
    """The course's folders, all derived from the repository ``root``.

    ``library`` is the ``tinydyn`` package folder whose ``*.py`` files key the lesson cache; by
    default the one this interpreter imports (the one the lesson kernels import too).
    """

    root: Path
    library: Path = Path(tinydyn.__file__).resolve().parent

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root).resolve())
        object.__setattr__(self, "library", Path(self.library).resolve())

    @property
    def lessons(self) -> Path:
        return self.root / "lessons"

    @property
    def docs(self) -> Path:
        return self.root / "docs"

    @property
    def exercises(self) -> Path:
        return self.root / "exercises"

    @property
    def bench_results(self) -> Path:
        return self.root / "bench-results"

    @property
    def mkdocs_yml(self) -> Path:
        return self.root / "mkdocs.yml"

    @property
    def build(self) -> Path:
        return self.root / "build" / "course"

    @property
    def notebooks(self) -> Path:
        return self.build / "lessons"

    @property
    def numba_cache(self) -> Path:
        return self.build / "numba-cache"

    @property
    def kernels(self) -> Path:
        return self.build / "kernels"

    @property
    def docs_build(self) -> Path:
        return self.build / "docs"

    @property
    def site(self) -> Path:
        return self.build / "site"

    @property
    def site_config(self) -> Path:
        return self.build / "mkdocs.yml"


def _is_root(path: Path) -> bool:
    return (path / "mkdocs.yml").is_file() and (path / "docs").is_dir()


def find_root(start: Path | str | None = None) -> Path:
    """The repository root: the first of ``start`` and its parents that holds ``mkdocs.yml`` and
    ``docs/``. Without ``start``: the current folder and its parents, else the folder above the
    imported ``tinydyn`` package (an editable install). ``FileNotFoundError`` if none fits."""
    here = (Path.cwd() if start is None else Path(start)).resolve()
    candidates = [here, *here.parents]
    beside_package = Path(tinydyn.__file__).resolve().parent.parent
    if start is None:
        candidates.append(beside_package)
    for folder in candidates:
        if _is_root(folder):
            return folder
    where = f"{here} or its parents" + ("" if start is not None else
                                         f", nor beside the tinydyn package ({beside_package})")
    raise FileNotFoundError(
        f"find_root: no folder with mkdocs.yml and docs/ in {where}; run from a clone of the "
        f"tinydyn repository"
    )
