"""The token_rules task: the label is the rule of the token's group applied to the previous
token."""

import numpy as np
import pytest

from tinydyn.data.tasks import load_task
from tinydyn.data.tasks.token_rules import token_rules_label


def _task(**kw):
    return load_task("token_rules", seed=0, n_train=300, n_val=50, n_test=50, **kw)


def test_labels_follow_the_groups_rule_of_the_previous_token():
    task = _task()
    group, rules = task.info["group"], task.info["rules"]
    tokens, previous, label = task.train.fields
    assert tokens.shape == previous.shape == label.shape == (300, 16)
    np.testing.assert_array_equal(label, rules[group[tokens], previous])
    np.testing.assert_array_equal(label, task.info["label_fn"](tokens, previous))
    # previous is the sequence shifted by one
    np.testing.assert_array_equal(previous[:, 1:], tokens[:, :-1])


def test_groups_are_equal_and_frequencies_are_a_zipf_law_in_random_order():
    task = _task(vocab_size=32, n_rules=4, zipf=1.0)
    assert np.bincount(task.info["group"]).tolist() == [8] * 4
    freq = task.info["frequencies"]
    assert freq.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(np.sort(freq)[::-1] * np.arange(1, 33) ** 1.0,
                               np.full(32, freq.max()), rtol=1e-12)
    assert not (np.diff(freq) <= 0).all()  # not sorted by id


def test_the_same_token_id_gets_different_labels_only_through_the_previous_token():
    task = _task()
    tokens, previous, label = (f.reshape(-1) for f in task.train.fields)
    pairs = {}
    for v, u, y in zip(tokens, previous, label):
        assert pairs.setdefault((v, u), y) == y


def test_seeded():
    a, b = _task(), _task()
    for fa, fb in zip(a.train.fields, b.train.fields):
        np.testing.assert_array_equal(fa, fb)


def test_bad_options_raise():
    with pytest.raises(ValueError, match="token_rules: vocab_size must be divisible by n_rules"):
        _task(vocab_size=30, n_rules=8)
    with pytest.raises(ValueError, match="token_rules: zipf must be >= 0"):
        _task(zipf=-1.0)
    with pytest.raises(ValueError, match="token_rules_label: tokens and previous must have"):
        token_rules_label(np.zeros(3, int), np.zeros(2, int), np.zeros(4, int),
                          np.zeros((1, 4), int))
