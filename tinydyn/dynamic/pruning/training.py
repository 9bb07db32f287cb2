"""Training recipes for the token-pruning models, shared by the bench, the lesson and the tests.

* :func:`train_baseline` — the full encoder classifier, Adam on minibatches.
* :func:`train_ltp` — from the trained baseline: stage 1 (soft masks, thresholds learned with
  their own, larger learning rate, loss = CE + lambda * mean kept fraction), then stage 2
  (binarised masks, thresholds fixed, fine-tune on CE).
* :func:`train_transkimmer` — from the baseline: predictors and encoder together with the
  Gumbel straight-through decisions and the skim loss lambda * mean kept fraction.
* :func:`train_power_bert` — from the baseline: fixed keep ratios, fine-tune on CE.

:func:`evaluate` measures accuracy and FLOPs per input on the hard path (tokens removed).
The task: :func:`load_pruning_task`, the sparse-signal task made long (128-256 tokens).
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_float, check_int, fail
from tinydyn.autograd.function import no_grad
from tinydyn.autograd.ops_nn import cross_entropy
from tinydyn.dynamic.pruning.common import pad_tokens
from tinydyn.dynamic.pruning.cost import full_cost, pruning_cost
from tinydyn.dynamic.pruning.inference import hard_forward
from tinydyn.dynamic.pruning.methods import (
    LTPClassifier,
    PowerBertClassifier,
    TranskimmerClassifier,
)
from tinydyn.dynamic.pruning.models import EncoderClassifier, PruningClassifier
from tinydyn.optim.adam import Adam

__all__ = ["MODEL_SIZE", "batches", "evaluate", "load_pruning_task", "train_baseline",
           "train_ltp", "train_power_bert", "train_transkimmer"]

# the encoder every method shares: 4 layers so that pruning after layer 1 can save ~3/4
MODEL_SIZE = {"d_model": 32, "nhead": 2, "num_layers": 4, "dim_feedforward": 64}


def load_pruning_task(seed: int = 0, min_len: int = 128, max_len: int = 256,
                      n_train: int = 2000, n_val: int = 300, n_test: int = 500):
    """The sparse-signal task (1-3 signal tokens among filler; label = their majority class)
    with sequences of ``min_len``..``max_len`` tokens: long enough that attention's n^2 matters,
    and almost every token is prunable."""
    from tinydyn.data.tasks import load_task

    return load_task("sparse_signal", seed=seed, min_len=min_len, max_len=max_len,
                     n_train=n_train, n_val=n_val, n_test=n_test)


def batches(split, batch: int, rng: np.random.Generator):
    """An endless stream of (tokens, lengths, labels) minibatches drawn without replacement
    epoch by epoch."""
    sequences, labels = split.fields[0], np.asarray(split.fields[1])
    n = len(labels)
    while True:
        order = rng.permutation(n)
        for i in range(0, n - batch + 1, batch):
            idx = order[i:i + batch]
            tokens, lengths = pad_tokens([sequences[j] for j in idx])
            yield tokens, lengths, labels[idx]


def _loop(model, task, steps, batch, groups, rng, penalty=0.0, log_every=0, log=None,
          decay: float = 1.0):
    """Adam on minibatches; the learning rates fall linearly to ``decay`` times their start
    over the steps (1.0: constant)."""
    fn = "train"
    steps = check_int(fn, "steps", steps, min_value=0)
    penalty = check_float(fn, "penalty", penalty, low=0.0)
    optimizer = Adam(groups)
    start_lrs = [g["lr"] for g in optimizer.param_groups]
    stream = batches(task.train, batch, rng)
    model.train()
    history = []
    for step in range(steps):
        for g, lr in zip(optimizer.param_groups, start_lrs):
            g["lr"] = lr * (1.0 - (1.0 - decay) * step / max(1, steps - 1))
        tokens, lengths, labels = next(stream)
        out = model(tokens, lengths)
        logits = out if not hasattr(out, "logits") else out.logits
        loss = cross_entropy(logits, labels)
        kept = None
        if penalty and getattr(out, "penalty", None) is not None:
            loss = loss + penalty * out.penalty
        if getattr(out, "penalty", None) is not None:
            kept = float(out.penalty.data)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append((float(loss.data), kept))
        if log and log_every and (step + 1) % log_every == 0:
            log(f"  step {step + 1}: loss {history[-1][0]:.3f} kept {kept}")
    model.eval()
    return history


def _params(model, exclude=()):
    skip = {id(p) for p in exclude}
    return [p for p in model.parameters() if id(p) not in skip and p.requires_grad]


def train_baseline(task, *, steps: int = 300, batch: int = 32, lr: float = 3e-3, seed: int = 0,
                   decay: float = 1.0, log=None) -> EncoderClassifier:
    """The full encoder classifier (MODEL_SIZE) trained from scratch (learning rate falling
    linearly to ``decay`` times ``lr``)."""
    model = EncoderClassifier(task.vocab_size, task.num_classes, **MODEL_SIZE,
                              rng=np.random.default_rng(1000 + seed))
    _loop(model, task, steps, batch, [{"params": _params(model), "lr": lr}],
          np.random.default_rng(2000 + seed), log=log, decay=decay)
    return model


def _from_baseline(cls, baseline, seed, **options):
    model = cls(baseline.vocab_size, baseline.num_classes, **MODEL_SIZE,
                rng=np.random.default_rng(3000 + seed), **options)
    model.load_encoder_from(baseline)
    return model


def train_ltp(baseline, task, *, penalty: float = 0.1, soft_steps: int = 150,
              hard_steps: int = 100, batch: int = 32, lr: float = 1e-3,
              soft_lr: float | None = None, threshold_lr: float = 1e-3,
              temperature: float = 2e-3, seed: int = 0, log=None) -> LTPClassifier:
    """LTP's two stages from a trained baseline; returns the model in eval mode."""
    model = _from_baseline(LTPClassifier, baseline, seed, temperature=temperature)
    rng = np.random.default_rng(4000 + seed)
    model.set_stage("soft")
    groups = [{"params": _params(model, [model.thresholds]), "lr": soft_lr or lr},
              {"params": [model.thresholds], "lr": threshold_lr}]
    _loop(model, task, soft_steps, batch, groups, rng, penalty=penalty, log=log)
    model.set_stage("hard")
    if hard_steps:
        _loop(model, task, hard_steps, batch, [{"params": _params(model), "lr": lr}], rng,
              log=log)
    return model


def train_transkimmer(baseline, task, *, penalty: float = 0.1, steps: int = 250,
                      batch: int = 32, lr: float = 1e-3, predictor_lr: float = 1e-2,
                      keep_bias: float = 2.0, seed: int = 0, log=None) -> TranskimmerClassifier:
    """Transkimmer from a trained baseline (predictors start by keeping every token; like
    LTP's thresholds they learn with their own, larger learning rate)."""
    import tinydyn

    tinydyn.manual_seed(5000 + seed)  # the Gumbel noise comes from the default generator
    model = _from_baseline(TranskimmerClassifier, baseline, seed, keep_bias=keep_bias)
    predictors = list(model.predictors.parameters())
    groups = [{"params": _params(model, predictors), "lr": lr},
              {"params": predictors, "lr": predictor_lr}]
    _loop(model, task, steps, batch, groups, np.random.default_rng(4000 + seed),
          penalty=penalty, log=log)
    return model


def train_power_bert(baseline, task, *, keep_ratios, steps: int = 100, batch: int = 32,
                     lr: float = 1e-3, seed: int = 0, log=None) -> PowerBertClassifier:
    """PoWER-BERT's fixed per-decision keep ratios, fine-tuned from the baseline."""
    model = _from_baseline(PowerBertClassifier, baseline, seed, keep_ratios=keep_ratios)
    _loop(model, task, steps, batch, [{"params": _params(model), "lr": lr}],
          np.random.default_rng(4000 + seed), log=log)
    return model


def evaluate(model, split, batch: int = 64, limit: int | None = None) -> dict:
    """Accuracy and mean FLOPs per input on ``split`` (hard path for pruning models, tokens
    removed; the plain forward for the baseline). Also the mean kept tokens per layer."""
    if not isinstance(model, EncoderClassifier):
        fail("evaluate", f"model must be an EncoderClassifier, got {type(model).__name__}",
             TypeError)
    model.eval()
    sequences, labels = split.fields[0], np.asarray(split.fields[1])
    n = len(labels) if limit is None else min(limit, len(labels))
    correct, flops, counts = 0, 0.0, []
    for i in range(0, n, batch):
        tokens, lengths = pad_tokens(sequences[i:min(n, i + batch)])
        if isinstance(model, PruningClassifier):
            result = hard_forward(model, tokens, lengths, "repack")
            logits = result.logits
            flops += sum(pruning_cost(model, c)["total"] for c in result.counts)
            counts.append(result.counts)
        else:
            with no_grad():
                logits = model(tokens, lengths).data
            flops += sum(full_cost(model, int(t)) for t in lengths)
            counts.append(np.repeat(lengths[:, None] + 1, model.num_layers, axis=1))
        correct += int((logits.argmax(1) == labels[i:i + len(logits)]).sum())
    all_counts = np.concatenate(counts)
    return {"accuracy": correct / n, "flops": flops / n,
            "kept_per_layer": all_counts.mean(axis=0).tolist()}
