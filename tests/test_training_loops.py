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


def test_lstm_learns_sparse_signal():
    td.manual_seed(0)
    task = data.load_task("sparse_signal", seed=0, n_train=1000, min_len=20, max_len=40)

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(task.vocab_size, 32, padding_idx=0)
            self.lstm = nn.LSTM(32, 64)
            self.head = nn.Linear(64, task.num_classes)

        def forward(self, tokens, mask):
            _, (h, _) = self.lstm(self.embed(tokens), mask=mask)
            return self.head(h)

    loader = data.DataLoader(task.train, batch_size=32, shuffle=True, seed=0,
                             collate_fn=data.pad_collate())
    forward = lambda m, b: m(b[0], b[1])  # noqa: E731
    model = Classifier()
    _train(model, loader, forward, epochs=6, lr=1e-2)
    test = data.DataLoader(task.test, batch_size=256, collate_fn=data.pad_collate())
    model.eval()
    with td.no_grad():
        correct = sum(int((forward(model, b).data.argmax(-1) == b[-1].data).sum()) for b in test)
    assert correct / len(task.test) > 0.8


def test_cnn_learns_shapes():
    td.manual_seed(0)
    task = data.load_task("shapes", seed=0, n_train=1000)
    channels = task.input_shape[0]
    model = nn.Sequential(
        nn.Conv2d(channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.GlobalAvgPool2d(),
        nn.Linear(32, task.num_classes),
    )
    loader = data.DataLoader(task.train, batch_size=64, shuffle=True, seed=0)
    _train(model, loader, lambda m, b: m(b[0]), epochs=8, lr=1e-2)
    assert _accuracy(model, task.test, lambda m, b: m(b[0])) > 0.7
