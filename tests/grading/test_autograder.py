"""The Gradescope bundle, run locally: its run_autograder against a copy of Gradescope's layout
(root/source, root/submission, root/results) in a temporary folder, with the bundled tinydyn
source first on the path. Each submission must produce a results.json that follows the
specification (tinydyn.grading.gradescope.validate)."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tinydyn import cli
from tinydyn.grading.autograder import CONFIG, collect_submission, make_autograder
from tinydyn.grading.gradescope import validate

HERE = Path(__file__).resolve().parent
EXERCISES = HERE.parents[1] / "exercises"
FORBIDDEN = HERE / "mutants" / "integrity" / "ex03_import_solution.py"
CORRECT = HERE / "submissions" / "ex03_correct.py"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_autograder(tmp_path_factory.mktemp("made") / "bundle", ["03"], root=EXERCISES)


@pytest.fixture(scope="module")
def root(bundle, tmp_path_factory):
    """One Gradescope root for every submission, so Numba's cache in source/ is reused."""
    root = tmp_path_factory.mktemp("gradescope") / "autograder"
    shutil.copytree(bundle, root / "source")
    return root


def run_bundle(root, files: dict, seed=None) -> dict:
    """Submit ``files`` (name in the submission -> source file) and run run_autograder."""
    for folder in ("submission", "results"):
        shutil.rmtree(root / folder, ignore_errors=True)
        (root / folder).mkdir()
    for name, source in files.items():
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, root / "submission" / name)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "TINYDYN_PYTHON": sys.executable,
           "PYTHONPATH": str(root / "source" / "tinydyn-src")}
    if seed is not None:
        env["TINYDYN_SEED"] = str(seed)
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env,
                          cwd=root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    assert validate(data) == [], data
    return data


def outcomes(data) -> set:
    return {t["extra_data"]["outcome"] for t in data["tests"]}


def test_bundle_has_the_files_gradescope_needs_and_no_stored_references(bundle):
    assert os.access(bundle / "setup.sh", os.X_OK) and os.access(bundle / "run_autograder",
                                                                 os.X_OK)
    assert (bundle / "tinydyn-src" / "pyproject.toml").is_file()
    assert (bundle / "tinydyn-src" / "tinydyn" / "grading" / "plugin.py").is_file()
    assert (bundle / "exercises" / "03_skim_rnn" / "test_03_skim_rnn.py").is_file()
    assert not list(bundle.rglob("references.npz")) and not list(bundle.rglob("__pycache__"))
    config = json.loads((bundle / CONFIG).read_text())
    assert config["exercises"] == ["03_skim_rnn"] and config["seed"] is None


def test_setup_sh_installs_the_bundled_source_and_parses(bundle):
    text = (bundle / "setup.sh").read_text()
    assert '-m pip install -r "$SOURCE/requirements.txt" "$SOURCE/tinydyn-src"' in text
    assert subprocess.run(["bash", "-n", str(bundle / "setup.sh")]).returncode == 0


def test_self_check_grades_the_library_solution_to_full_marks(root):
    env = {**os.environ, "PYTHONPATH": str(root / "source" / "tinydyn-src")}
    proc = subprocess.run([sys.executable, "-m", "tinydyn.grading.autograder", "--root",
                           str(root), "--self-check"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "the library's solution" in proc.stdout and "TOTAL 10 / 10 points" in proc.stdout


def test_stubs_score_zero(root):
    data = run_bundle(root, {"03_skim_rnn/student.py":
                                         EXERCISES / "03_skim_rnn" / "student.py"})
    assert data["score"] == 0 and data["max_score"] == 10
    assert outcomes(data) == {"not_attempted"}


def test_correct_submission_scores_full_marks_at_a_fresh_seed(root):
    data = run_bundle(root, {"03_skim_rnn.py": CORRECT})
    assert data["score"] == data["max_score"] == 10
    seed = data["extra_data"]["seed"]
    assert isinstance(seed, int) and f"recomputed at seed {seed}" in data["output"]


def test_forbidden_import_scores_zero_naming_the_line(root):
    data = run_bundle(root, {"student.py": FORBIDDEN}, seed=11)
    assert data["score"] == 0 and outcomes(data) == {"not_allowed"}
    assert data["extra_data"]["seed"] == 11
    assert all("student.py line 1: imports tinydyn.grading.exercises.ex03_skim_rnn"
               in t["output"] for t in data["tests"])


def hard_coded_submission(path: Path) -> Path:
    """A student.py returning exercise 03's stored outputs, pasted in as literals and picked by
    the arguments that are the same at every seed (tau, hard, threshold)."""
    with np.load(EXERCISES / "03_skim_rnn" / "references.npz") as refs:
        stored = {k: refs[k].tolist() for k in refs.files if k.endswith(("_h", "_c", "_r",
                                                                         "_skims"))}
    path.write_text(f"""import numpy as np

OUT = {stored!r}


def skim_step(x, h, c, w_big, b_big, w_small, b_small, w_dec, b_dec, gumbel_noise, tau, hard):
    case = "skimall" if gumbel_noise[0, 1] > 20 else ("hard" if hard else "soft")
    return tuple(np.array(OUT[f"step_{{case}}_{{k}}"]) for k in "hcr")


def skim_inference(xs, h0, c0, w_big, b_big, w_small, b_small, w_dec, b_dec, threshold):
    case = {{0.25: "low", 0.5: "half", 1.0: "one"}}[threshold]
    return (np.array(OUT[f"seq_{{case}}_h"]), np.array(OUT[f"seq_{{case}}_c"]),
            np.array(OUT[f"seq_{{case}}_skims"]))
""")
    return path


def test_hard_coded_outputs_score_only_at_the_stored_seed(root, tmp_path):
    submission = hard_coded_submission(tmp_path / "student.py")
    assert run_bundle(root, {"student.py": submission}, seed=0)["score"] == 10
    data = run_bundle(root, {"student.py": submission}, seed=5)
    assert data["score"] == 0 and outcomes(data) == {"failed"}


def test_missing_submission_is_said_in_the_output(root):
    data = run_bundle(root, {"notes.txt": CORRECT})
    assert "03_skim_rnn: no 03_skim_rnn/student.py" in data["output"]
    assert outcomes(data) == {"not_attempted"}


def test_broken_bundle_still_writes_a_valid_results_file(bundle, tmp_path):
    broken = tmp_path / "autograder"
    shutil.copytree(bundle, broken / "source")
    (broken / "source" / CONFIG).write_text("{not json")
    data = run_bundle(broken, {"student.py": CORRECT})
    assert data["score"] == 0 and "could not grade" in data["output"]


def test_collect_submission_prefers_the_handed_out_layout(tmp_path):
    sub, ex = tmp_path / "sub", tmp_path / "ex"
    for name in ("01_autograd", "03_skim_rnn"):
        (ex / name).mkdir(parents=True)
    (sub / "deep" / "03_skim_rnn").mkdir(parents=True)
    (sub / "deep" / "03_skim_rnn" / "student.py").write_text("x = 3\n")
    (sub / "student_01.py").write_text("x = 1\n")
    taken, notes = collect_submission(sub, ex, ["01_autograd", "03_skim_rnn"])
    assert taken == {"01_autograd": "student_01.py",
                     "03_skim_rnn": "deep/03_skim_rnn/student.py"}
    assert (ex / "03_skim_rnn" / "student.py").read_text() == "x = 3\n" and notes == []


def test_cli_writes_a_zip_with_the_scripts_at_its_root(tmp_path, capsys):
    target = tmp_path / "autograder.zip"
    assert cli.main(["grade", "--make-autograder", str(target), "02", "--root",
                     str(EXERCISES)]) == 0
    names = zipfile.ZipFile(target).namelist()
    assert {"setup.sh", "run_autograder", CONFIG} <= set(names)
    assert "exercises/02_kernels/test_02_kernels.py" in names
    assert "a fresh seed per submission" in capsys.readouterr().out


def test_cli_refuses_to_combine_with_regenerate(tmp_path, capsys):
    assert cli.main(["grade", "--make-autograder", str(tmp_path / "b"), "--regenerate"]) == 2
    assert "--make-autograder cannot be combined" in capsys.readouterr().err
