"""End to end: the usual PyTorch-style loop trains on built-in tasks to a sensible accuracy.

These are the library's integration tests; each trains for a few seconds at most.
"""

import numpy as np

import tinydyn as td
from tinydyn import data, nn, optim


def _accuracy(model, dataset, forward):
    model.eval()
    correct = total = 0
    with td.no_grad():
        for batch in data.DataLoader(dataset, batch_size=256):
            logits = forward(model, batch)
            correct += int((logits.data.argmax(-1) == batch[-1].data).sum())
            total += len(batch[-1])
    model.train()
    return correct / total


def _train(model, loader, forward, epochs, lr=3e-3):
    opt = optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        for batch in loader:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(forward(model, batch), batch[-1])
            loss.backward()
            opt.step()


def test_mlp_learns_mixed_difficulty():
    td.manual_seed(0)
    task = data.load_task("mixed_difficulty", seed=0)
    model = nn.Sequential(nn.Linear(task.input_shape[0], 64), nn.ReLU(), nn.Linear(64, 64),
                          nn.ReLU(), nn.Linear(64, task.num_classes))
    loader = data.DataLoader(task.train, batch_size=64, shuffle=True, seed=0)
    _train(model, loader, lambda m, b: m(b[0]), epochs=15)
    assert _accuracy(model, task.test, lambda m, b: m(b[0])) > 0.8


def test_training_is_reproducible_for_a_seed():
    def run():
        td.manual_seed(3)
        task = data.load_task("mixed_difficulty", seed=1, n_train=256)
        model = nn.Sequential(nn.Linear(task.input_shape[0], 16), nn.ReLU(),
                              nn.Linear(16, task.num_classes))
        _train(model, data.DataLoader(task.train, batch_size=32, shuffle=True, seed=5),
               lambda m, b: m(b[0]), epochs=2)
        return np.concatenate([p.data.ravel() for p in model.parameters()])

    np.testing.assert_array_equal(run(), run())
