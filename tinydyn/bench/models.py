"""Whole training steps of small models, tinydyn against PyTorch with the same shapes.

A step is: zero the gradients, forward, cross-entropy, backward, SGD update. Both sides use
float32, dropout off, and the same thread count (``--threads`` pins both). Targets: a step
within 1.5x of PyTorch's for the LSTM classifier and the Transformer, within 2x for the CNN
(im2col convolutions against PyTorch's native ones).
"""

from __future__ import annotations

import numpy as np

import tinydyn as td
from tinydyn.bench.harness import Skip, Workload, torch_or_skip


def _step_pair(build_ours, build_theirs, make_batch):
    """``{"tinydyn": step, "torch": step}`` for models built by the two builders."""
    from tinydyn import nn, optim

    rng = np.random.default_rng(0)
    inputs, labels = make_batch(rng)
    model = build_ours(nn, rng)
    opt = optim.SGD(model.parameters(), lr=0.01)
    x, y = td.tensor(inputs), td.tensor(labels)

    def ours():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    fns = {"tinydyn": ours}
    torch = torch_or_skip()
    if isinstance(torch, Skip):
        fns["torch"] = torch
        return fns
    torch.manual_seed(0)
    net = build_theirs(torch.nn)
    topt = torch.optim.SGD(net.parameters(), lr=0.01)
    tx, ty = torch.from_numpy(inputs), torch.from_numpy(labels)

    def theirs():
        topt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(tx), ty)
        loss.backward()
        topt.step()

    fns["torch"] = theirs
    return fns


def _lstm_classifier():
    vocab, embed, hidden, batch, steps = 1000, 64, 128, 32, 100

    def make_batch(rng):
        return rng.integers(0, vocab, (batch, steps)), rng.integers(0, 2, batch)

    def build_ours(nn, rng):
        class Classifier(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = nn.Embedding(vocab, embed, rng=rng)
                self.lstm = nn.LSTM(embed, hidden, batch_first=True, rng=rng)
                self.head = nn.Linear(hidden, 2, rng=rng)

            def forward(self, tokens):
                _, (h, _) = self.lstm(self.embed(tokens))
                return self.head(h)

        return Classifier()

    def build_theirs(tnn):
        class Classifier(tnn.Module):
            def __init__(self):
                super().__init__()
                self.embed = tnn.Embedding(vocab, embed)
                self.lstm = tnn.LSTM(embed, hidden, batch_first=True)
                self.head = tnn.Linear(hidden, 2)

            def forward(self, tokens):
                _, (h, _) = self.lstm(self.embed(tokens))
                return self.head(h[0])

        return Classifier()

    return _step_pair(build_ours, build_theirs, make_batch)


def _transformer():
    vocab, d, heads, ff, seq, batch, layers = 1000, 64, 4, 128, 64, 32, 2

    def make_batch(rng):
        return rng.integers(0, vocab, (batch, seq)), rng.integers(0, 2, batch)

    def build_ours(nn, rng):
        class Classifier(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = nn.Embedding(vocab, d, rng=rng)
                self.encoder = nn.TransformerEncoder(layers, d, heads, ff, dropout=0.0, rng=rng)
                self.head = nn.Linear(d, 2, rng=rng)

            def forward(self, tokens):
                return self.head(self.encoder(self.embed(tokens)).mean(dim=1))

        return Classifier()

    def build_theirs(tnn):
        class Classifier(tnn.Module):
            def __init__(self):
                super().__init__()
                self.embed = tnn.Embedding(vocab, d)
                layer = tnn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, batch_first=True)
                self.encoder = tnn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
                self.head = tnn.Linear(d, 2)

            def forward(self, tokens):
                return self.head(self.encoder(self.embed(tokens)).mean(dim=1))

        return Classifier()

    return _step_pair(build_ours, build_theirs, make_batch)


def _cnn():
    batch = 64

    def make_batch(rng):
        return rng.random((batch, 1, 8, 8), dtype=np.float32), rng.integers(0, 10, batch)

    def build_ours(nn, rng):
        return nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1, rng=rng), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1, rng=rng), nn.ReLU(),
            nn.GlobalAvgPool2d(), nn.Linear(32, 10, rng=rng),
        )

    def build_theirs(tnn):
        return tnn.Sequential(
            tnn.Conv2d(1, 16, 3, padding=1), tnn.ReLU(),
            tnn.Conv2d(16, 32, 3, padding=1), tnn.ReLU(),
            tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), tnn.Linear(32, 10),
        )

    return _step_pair(build_ours, build_theirs, make_batch)


def _guarded(setup):
    def run():
        try:
            return setup()
        except (AttributeError, ImportError) as err:  # a layer this step needs is missing
            raise Skip(f"not available: {err}") from None

    return run


def workloads() -> list[Workload]:
    return [
        Workload("LSTM classifier step: B=32, T=100, E=64, H=128, V=1000",
                 _guarded(_lstm_classifier), {"torch": 1.5},
                 note="a training step within 1.5x of PyTorch's"),
        Workload("transformer step: 2 layers, d=64, 4 heads, ff=128, T=64, B=32",
                 _guarded(_transformer), {"torch": 1.5},
                 note="a training step within 1.5x of PyTorch's"),
        Workload("CNN step: conv16, conv32, GAP, linear10 on 8x8, B=64",
                 _guarded(_cnn), {"torch": 2.0},
                 note="a training step within 2x of PyTorch's"),
    ]
