import numpy as np
import pytest

from tinydyn.data import DataLoader, load_task, pad_collate
from tinydyn.data.tasks import sparse_signal_label


@pytest.fixture(scope="module")
def task():
    return load_task("sparse_signal", seed=0, n_train=400, n_val=50, n_test=50)


def signal_range(task):
    return task.info["signal_ids"]


def test_label_is_the_documented_rule_of_the_tokens(task):
    rule = task.info["label_fn"]
    assert all(rule(tokens) == label for tokens, label in (task.train[i] for i in range(400)))


def test_signal_tokens_sit_exactly_at_signal_positions(task):
    lo, hi = signal_range(task)
    for i in range(len(task.train)):
        tokens = task.train[i][0]
        where = np.flatnonzero((tokens >= lo) & (tokens < hi))
        pos = task.train.signal_positions[i]
        np.testing.assert_array_equal(where, pos[pos >= 0])


def test_filler_and_signal_ids_are_disjoint(task):
    (f_lo, f_hi), (s_lo, s_hi) = task.info["filler_ids"], signal_range(task)
    assert 0 < f_lo < f_hi <= s_lo < s_hi == task.vocab_size


def test_changing_filler_tokens_never_changes_the_label(task):
    rng = np.random.default_rng(1)
    f_lo, f_hi = task.info["filler_ids"]
    rule = task.info["label_fn"]
    for i in range(100):
        tokens, label = task.train[i]
        pos = task.train.signal_positions[i]
        changed = rng.integers(f_lo, f_hi, size=len(tokens))
        changed[pos[pos >= 0]] = tokens[pos[pos >= 0]]
        assert rule(changed) == label


def test_changing_a_signal_token_can_change_the_label(task):
    i = int(np.flatnonzero(task.train.num_signals == 1)[0])
    tokens, label = task.train[i]
    s_lo, per_class = signal_range(task)[0], task.info["signal_per_class"]
    changed = tokens.copy()
    changed[task.train.signal_positions[i, 0]] = s_lo + (1 - label) * per_class
    assert task.info["label_fn"](changed) == 1 - label


def test_tie_goes_to_the_class_seen_first():
    # num_filler=2: filler ids 1-2, class 0 ids 3-4, class 1 ids 5-6
    assert sparse_signal_label([1, 5, 2, 3], num_filler=2, signal_per_class=2) == 1
    assert sparse_signal_label([3, 1, 5, 2], num_filler=2, signal_per_class=2) == 0


def test_sequence_without_signal_has_no_label():
    with pytest.raises(ValueError, match="sparse_signal_label: the sequence has no signal token"):
        sparse_signal_label([1, 2, 3])


def test_lengths_and_signal_counts_stay_in_range():
    task = load_task("sparse_signal", seed=2, n_train=300, n_val=0, n_test=0, min_len=20,
                     max_len=30, min_signals=2, max_signals=4)
    lengths = np.array([len(t) for t in task.train.fields[0]])
    assert lengths.min() >= 20 and lengths.max() <= 30
    np.testing.assert_array_equal(lengths, task.train.length)
    assert set(task.train.num_signals.tolist()) == {2, 3, 4}


def test_labels_are_roughly_balanced(task):
    counts = np.bincount(task.train.fields[1], minlength=2)
    assert counts.min() / counts.sum() > 0.4


def test_signal_positions_are_spread_over_the_sequence(task):
    pos, lengths = task.train.signal_positions, task.train.length
    relative = (pos / lengths[:, None])[pos >= 0]
    assert relative.mean() == pytest.approx(0.5, abs=0.05)


def test_more_classes_are_supported():
    task = load_task("sparse_signal", seed=0, n_train=300, n_val=0, n_test=0, num_classes=4)
    assert set(task.train.fields[1].tolist()) == {0, 1, 2, 3} and task.num_classes == 4


def test_min_signals_above_max_is_refused():
    with pytest.raises(ValueError, match="sparse_signal: max_signals must be >= 3, got 2"):
        load_task("sparse_signal", min_signals=3, max_signals=2)


def test_batches_through_pad_collate(task):
    loader = DataLoader(task.train, batch_size=16, shuffle=True, seed=0, collate_fn=pad_collate())
    tokens, mask, lengths, labels = next(iter(loader))
    assert tokens.shape[0] == 16 and tokens.shape[1] == int(lengths.data.max())
    np.testing.assert_array_equal(mask.data.sum(1), lengths.data)


# ---- pointer_text ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pointer():
    return load_task("pointer_text", seed=0, n_train=300, n_val=20, n_test=20, length=20)


def test_pointer_label_is_the_digit_at_the_pointed_position(pointer):
    tokens, labels = pointer.train.fields
    d_lo, _ = pointer.info["digit_ids"]
    p_lo, _ = pointer.info["pointer_ids"]
    target = tokens[:, 0] - p_lo + 1
    np.testing.assert_array_equal(target, pointer.train.target_position)
    np.testing.assert_array_equal(tokens[np.arange(len(tokens)), target] - d_lo, labels)


def test_pointer_changing_other_digits_keeps_the_label(pointer):
    tokens, labels = pointer.train.fields
    d_lo, d_hi = pointer.info["digit_ids"]
    rng = np.random.default_rng(0)
    changed = rng.integers(d_lo, d_hi, size=tokens.shape)
    rows = np.arange(len(tokens))
    changed[:, 0] = tokens[:, 0]
    target = pointer.train.target_position
    changed[rows, target] = tokens[rows, target]
    np.testing.assert_array_equal(changed[rows, target] - d_lo, labels)


def test_pointer_targets_cover_the_sequence(pointer):
    assert set(pointer.train.target_position.tolist()) == set(range(1, 20))


def test_pointer_vocab_size_counts_digits_and_pointers(pointer):
    assert pointer.vocab_size == 1 + 10 + 19 and pointer.num_classes == 10
