"""A token-level task where the rule depends on the token id: made for hash and random routing.

Every token id ``v`` belongs to one of ``n_rules`` hidden groups, ``group[v]``. Each group has
its own rule, a random table from the *previous* token to a class:
``label_t = rules[group[v_t], v_{t-1}]``. A model sees ``(v_t, v_{t-1})`` at every position.
A dense network must learn all the rules at once; an expert that only sees one group's tokens
only needs one rule, so routing by token id (a hash) is a natural fit, and a balanced hash
helps because token frequencies follow a Zipf law (``p(rank r) ~ r^-zipf``), the ranks given to
the ids in random order (frequency says nothing about the group).

Every position is labelled and all tokens of a sequence are visible at once (a bidirectional
setting), so routers that look at the whole group of tokens (Expert Choice) are fair here.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_float, check_int, fail
from tinydyn.data.tasks.base import Task, check_sizes, register_task, split

__all__ = ["token_rules", "token_rules_label"]


def token_rules_label(tokens: np.ndarray, previous: np.ndarray, group: np.ndarray,
                      rules: np.ndarray) -> np.ndarray:
    """The ground-truth rule: ``rules[group[tokens], previous]`` (any shape, int64)."""
    tokens, previous = np.asarray(tokens), np.asarray(previous)
    if tokens.shape != previous.shape:
        fail("token_rules_label", f"tokens and previous must have the same shape, got "
             f"{tokens.shape} and {previous.shape}")
    return rules[group[tokens], previous].astype(np.int64)


@register_task("token_rules")
def token_rules(rng, *, n_train: int = 2000, n_val: int = 500, n_test: int = 500,
                seq_len: int = 16, vocab_size: int = 64, n_rules: int = 8,
                num_classes: int = 16, zipf: float = 0.7) -> Task:
    """Sequences of ``seq_len`` tokens, each position labelled by its group's rule.

    Fields ``(tokens, previous, label)``, int64 (N, seq_len) each: ``previous[:, t]`` is the
    token before ``tokens[:, t]`` (the sequence is drawn one token longer, the first one only
    read as ``previous``). Ids ``[0, vocab_size)``, each group holding ``vocab_size / n_rules``
    of them. ``task.info``: ``group`` (V,), ``rules`` (n_rules, V), ``frequencies`` (V,) (the
    token distribution), ``label_fn``.
    """
    fn = "token_rules"
    sizes = check_sizes(fn, n_train, n_val, n_test)
    seq_len = check_int(fn, "seq_len", seq_len, min_value=1)
    vocab_size = check_int(fn, "vocab_size", vocab_size, min_value=2)
    n_rules = check_int(fn, "n_rules", n_rules, min_value=1)
    num_classes = check_int(fn, "num_classes", num_classes, min_value=2)
    zipf = check_float(fn, "zipf", zipf, low=0.0)
    if vocab_size % n_rules:
        fail(fn, f"vocab_size must be divisible by n_rules (equal groups), got "
             f"vocab_size={vocab_size}, n_rules={n_rules}")

    group = rng.permutation(np.repeat(np.arange(n_rules), vocab_size // n_rules)).astype(np.int64)
    rules = rng.integers(0, num_classes, size=(n_rules, vocab_size)).astype(np.int64)
    weights = 1.0 / np.arange(1, vocab_size + 1) ** zipf
    frequencies = np.empty(vocab_size)
    frequencies[rng.permutation(vocab_size)] = weights / weights.sum()
    n = sum(sizes)
    seq = rng.choice(vocab_size, size=(n, seq_len + 1), p=frequencies).astype(np.int64)
    tokens, previous = seq[:, 1:], seq[:, :-1]
    label = token_rules_label(tokens, previous, group, rules)
    train, val, test = split([tokens, previous, label], ("tokens", "previous", "label"), {},
                             sizes)

    def label_fn(tokens, previous):
        return token_rules_label(tokens, previous, group, rules)

    info = {"group": group, "rules": rules, "frequencies": frequencies, "n_rules": n_rules,
            "seq_len": seq_len, "zipf": zipf, "label_fn": label_fn}
    return Task("token_rules", "Each token id belongs to a hidden group whose own table maps "
                "the previous token to the label: routing by token id gives each expert one "
                "table to learn.", train, val, test, num_classes=num_classes,
                vocab_size=vocab_size, info=info)
