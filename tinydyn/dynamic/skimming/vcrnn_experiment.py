"""Train and measure VCRNN on the sparse-signal task against same-size dense baselines.

:func:`run_vcrnn_experiment` trains three classifiers the same way (data, optimizer, epochs):

* VCRNN (:class:`~tinydyn.dynamic.skimming.vcrnn.VCRNNClassifier`), penalty towards a target
  ratio, sharpness raised geometrically during training;
* the same model with its ratio pinned at 1: a plain Elman RNN of the same size;
* an LSTM of the same hidden size (:class:`LSTMClassifier`, the fused ``tinydyn.lstm`` op).

and reports test accuracy (VCRNN on its hard path), mean FLOPs per example, batch-1 inference
time of each model's compiled inference path (measured in this process with
:func:`tinydyn.measure.time_fn`), speed-ups and realisation ratios (measured speed-up / FLOP
speed-up) against both baselines.
"""

from __future__ import annotations

import time
from functools import partial

import numpy as np

from tinydyn._checks import check_float, check_int
from tinydyn.autograd.function import no_grad
from tinydyn.data import load_task
from tinydyn.dynamic.skimming.common import (
    LSTMClassifier,
    lstm_predictor,
    make_loader,
    time_batch1,
)
from tinydyn.dynamic.skimming.vcrnn import (
    VCRNNClassifier,
    rnn_step_flops,
    vcrnn_penalty,
)
from tinydyn.kernels.backend import dispatch
from tinydyn.kernels.lstm import lstm_forward
from tinydyn.kernels.vcrnn import (
    rnn_forward,
    rnn_full_numba,
    rnn_full_numpy,
    vcrnn_hard_forward,
    vcrnn_hard_numba,
    vcrnn_hard_numpy,
)
from tinydyn.measure.flops import linear_flops
from tinydyn.measure.timing import time_fn
from tinydyn.nn import functional as F
from tinydyn.optim import Adam, ScalarSchedule, clip_grad_norm_

__all__ = ["run_vcrnn_experiment", "train_classifier", "train_vcrnn"]


def train_classifier(model, task, *, epochs: int = 6, batch_size: int = 32, lr: float = 3e-3,
                     seed: int = 0, target_ratio: float | None = None, penalty: float = 0.0,
                     sharpness=None, time_limit: float | None = None) -> dict:
    """Train ``model`` (forward(tokens, mask) -> (logits, ratios or None)) with Adam.

    Loss: cross-entropy, plus ``penalty * vcrnn_penalty(ratios, mask, target_ratio)`` when
    the model returns ratios and ``target_ratio`` is set (``penalty`` may be a schedule,
    called with the step). ``sharpness``: a ScalarSchedule
    (called with the step) written to ``model.rnn.sharpness`` before every step. Stops early
    after ``time_limit`` seconds. Returns a log: steps, seconds, the last losses and ratios.
    """
    epochs = check_int("train_classifier", "epochs", epochs, min_value=1)
    opt = Adam(model.parameters(), lr=lr)
    loader = make_loader(task.train, batch_size, seed, shuffle=True)
    start, step, log = time.perf_counter(), 0, {"loss": [], "ratio": []}
    model.train()
    for _ in range(epochs):
        for tokens, mask, _lengths, labels in loader:
            if sharpness is not None:
                model.rnn.sharpness = float(sharpness(step))
            opt.zero_grad()
            logits, ratios = model(tokens, mask)
            loss = F.cross_entropy(logits, labels)
            weight = penalty(step) if callable(penalty) else penalty
            if ratios is not None and target_ratio is not None and weight > 0:
                loss = loss + weight * vcrnn_penalty(ratios, mask, target_ratio)
            loss.backward()
            clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            log["loss"].append(float(loss.data))
            if ratios is not None:
                m = mask.data
                log["ratio"].append(float((ratios.data * m).sum() / m.sum()))
            if time_limit is not None and time.perf_counter() - start > time_limit:
                break
        else:
            continue
        break
    model.eval()
    log.update(steps=step, seconds=time.perf_counter() - start)
    return log


def train_vcrnn(task=None, seed: int = 0, *, target_ratio: float = 0.2, penalty: float = 0.2,
                hidden_size: int = 64, embed_dim: int = 32, epochs: int = 12,
                batch_size: int = 32, lr: float = 3e-3, sharpness=(1.0, 10.0),
                penalty_warmup: float = 0.0, scheduler_bias: float = -2.0,
                time_limit: float | None = 55.0):
    """Train a VCRNN classifier on ``task`` (default: ``sparse_signal`` with ``seed``).

    ``sharpness = (start, end)``: lam grows geometrically from start to end over the run. The
    penalty weight grows linearly from 0 over the first ``penalty_warmup`` of the run, so the
    cell learns the task before the scheduler is pushed to save.
    Returns ``(model, metrics)`` with the test accuracy of the hard path, mean FLOPs per
    example, the mean ratio and the training log.
    """
    task = load_task("sparse_signal", seed=seed) if task is None else task
    target_ratio = check_float("train_vcrnn", "target_ratio", target_ratio, low=0.0, high=1.0)
    rng = np.random.default_rng(seed)
    model = VCRNNClassifier(task.vocab_size, task.num_classes, embed_dim, hidden_size,
                            sharpness=sharpness[0], scheduler_bias=scheduler_bias, rng=rng)
    total = epochs * len(make_loader(task.train, batch_size, seed, False))
    schedule = ScalarSchedule(sharpness[0], sharpness[1], steps=total, kind="exponential")
    ramp = ScalarSchedule(0.0, penalty, steps=int(penalty_warmup * total))
    if penalty_warmup == 0:
        ramp = penalty
    log = train_classifier(model, task, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                           target_ratio=target_ratio, penalty=ramp, sharpness=schedule,
                           time_limit=time_limit)
    return model, {**evaluate(model, task.test), "train": log}


def evaluate(model, split, batch_size: int = 250) -> dict:
    """Test accuracy and FLOPs of ``model`` on ``split`` (VCRNN: the hard path)."""
    correct, flops, rows, steps = 0, [], 0, 0
    for tokens, mask, lengths, labels in make_loader(split, batch_size, 0, False):
        if isinstance(model, VCRNNClassifier):
            out = model.infer(tokens, lengths)
            logits, f = out["logits"], out["flops"]
            rows += int(out["ks"].sum())
            steps += int(lengths.data.sum())
        else:
            with no_grad():
                logits = model(tokens, mask)[0].data
            f = model.flops(lengths.data)
        correct += int((logits.argmax(1) == labels.data).sum())
        flops.append(f)
    result = {"accuracy": correct / len(split), "flops": float(np.concatenate(flops).mean())}
    if isinstance(model, VCRNNClassifier):
        d = model.rnn.hidden_size
        result["ratio"] = rows / max(1, steps * d)  # the mean fraction of rows recomputed
    return result


# ---- batch-1 inference paths, timed identically ----------------------------------------------

def _vcrnn_predictor(model, full=False):
    """Batch-1 prediction on the compiled path (the hard VCRNN, or with ``full`` the plain RNN
    on the same weights). The weights are checked and laid out once, as an inference engine
    would do, so a call pays only for the embedding lookup, the kernel and the head."""
    r = model.rnn
    w = [np.ascontiguousarray(p.data) for p in r._weights()]
    vcrnn_hard_forward(np.zeros((1, 1, r.input_size), w[0].dtype), np.array([1]),
                       np.zeros((1, r.hidden_size), w[0].dtype), *w)  # validates once
    table, head_w, head_b = model.embed.weight.data, model.head.weight.data.T, model.head.bias.data
    h0 = np.zeros((1, r.hidden_size), w[0].dtype)
    kernel = dispatch(vcrnn_hard_numba, vcrnn_hard_numpy)
    full_kernel = dispatch(rnn_full_numba, rnn_full_numpy)

    def predict(tokens):
        x = table[tokens][None]
        h = h0.copy()
        lengths = np.array([len(tokens)])
        if full:
            full_kernel(x, lengths, h, *w[:3])
        else:
            T = len(tokens)
            kernel(x, lengths, h, *w, np.empty((1, T), h.dtype), np.empty((1, T), np.int64))
        return h @ head_w + head_b

    return predict


def _batched_predict(name, model, tokens, lengths):
    """The same three inference paths on a padded batch (B, T)."""
    x = model.embed.weight.data[tokens]
    if name == "lstm":
        cell = model.lstm
        h0 = np.zeros((len(tokens), cell.hidden_size), x.dtype)
        mask = np.arange(tokens.shape[1])[None] < lengths[:, None]
        _, h, _, _ = lstm_forward(x, h0, h0, cell.weight_ih.data, cell.weight_hh.data,
                                  cell.bias.data, mask)
    else:
        r = model.rnn
        h0 = np.zeros((len(tokens), r.hidden_size), x.dtype)
        w = [p.data for p in r._weights()]
        h = (vcrnn_hard_forward(x, lengths, h0, *w)[0] if name == "vcrnn"
             else rnn_forward(x, lengths, h0, *w[:3]))
    return h @ model.head.weight.data.T + model.head.bias.data


def run_vcrnn_experiment(seed: int = 0, *, target_ratio: float = 0.2, penalty: float = 0.2,
                         hidden_size: int = 64, embed_dim: int = 32, epochs: int = 12,
                         time_limit: float | None = 55.0, n_timed: int = 50,
                         repeats: int = 7, baselines: bool = True,
                         task_options: dict | None = None) -> dict:
    """Train VCRNN (and, if ``baselines``, the plain RNN and the LSTM) and measure everything.

    Returns a dict of per-model results (``accuracy``, ``flops``, ``time_b1`` and
    ``time_batched`` (all ``n_timed`` sequences in one padded batch) in seconds per sequence,
    ``train_seconds``) and, for VCRNN against each baseline, ``flop_speedup``,
    ``speedup`` (measured, batch 1) and ``realisation`` = speedup / flop_speedup.
    """
    task = load_task("sparse_signal", seed=seed, **(task_options or {}))
    n_timed = min(n_timed, len(task.test))
    common = dict(hidden_size=hidden_size, embed_dim=embed_dim, epochs=epochs,
                  time_limit=time_limit)
    models, results = {}, {}
    models["vcrnn"], results["vcrnn"] = train_vcrnn(task, seed, target_ratio=target_ratio,
                                                    penalty=penalty, **common)
    if baselines:
        rng = np.random.default_rng(seed)
        rnn = VCRNNClassifier(task.vocab_size, task.num_classes, embed_dim, hidden_size,
                              pin=1.0, rng=rng)
        lstm = LSTMClassifier(task.vocab_size, task.num_classes, embed_dim, hidden_size,
                              rng=np.random.default_rng(seed))
        for name, model in (("rnn", rnn), ("lstm", lstm)):
            log = train_classifier(model, task, epochs=epochs, seed=seed, time_limit=time_limit)
            models[name], results[name] = model, {**evaluate(model, task.test), "train": log}
    for result in results.values():
        result["train_seconds"] = result.pop("train")["seconds"]
    sequences = [np.asarray(task.test[i][0]) for i in range(n_timed)]
    predictors = {"vcrnn": _vcrnn_predictor, "rnn": partial(_vcrnn_predictor, full=True),
                  "lstm": lstm_predictor}
    for name, model in models.items():
        predict = predictors[name](model)
        results[name]["time_b1"] = time_batch1(predict, sequences, repeats)
    lengths = np.array([len(s) for s in sequences])
    padded = np.stack([np.pad(s, (0, lengths.max() - len(s))) for s in sequences])
    for name, model in models.items():  # one batch of all timed sequences, per sequence
        def run(name=name, model=model):
            return _batched_predict(name, model, padded, lengths)
        results[name]["time_batched"] = time_fn(run, repeats=repeats).median / len(sequences)
    if baselines:  # the FLOPs of the timed sequences, for the realisation ratio
        out = models["vcrnn"].infer(padded, lengths)
        timed_flops = {"vcrnn": out["flops"].sum(),
                       "rnn": (lengths * rnn_step_flops(embed_dim, hidden_size)).sum()
                       + len(sequences) * linear_flops(hidden_size, task.num_classes),
                       "lstm": models["lstm"].flops(lengths).sum()}
        for base in ("rnn", "lstm"):
            flop_speedup = float(timed_flops[base] / timed_flops["vcrnn"])
            speedup = results[base]["time_b1"] / results["vcrnn"]["time_b1"]
            batched = results[base]["time_batched"] / results["vcrnn"]["time_batched"]
            results["vcrnn"][f"vs_{base}"] = {
                "flop_speedup": flop_speedup, "speedup": speedup,
                "realisation": speedup / flop_speedup, "speedup_batched": batched,
                "realisation_batched": batched / flop_speedup,
                "flops_fraction": results["vcrnn"]["flops"] / results[base]["flops"],
                "accuracy_gap": results[base]["accuracy"] - results["vcrnn"]["accuracy"]}
    results["config"] = dict(seed=seed, target_ratio=target_ratio, penalty=penalty, **common)
    return results
