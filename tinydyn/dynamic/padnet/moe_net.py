"""The MoE side of the PAD experiments: the piecewise task of spec A.9, a small network whose
FFN linears are MoE layers (as PAD-Net's BERT-MoE, ``pos_moe='both'``), and its training loop.

    x (8,) -> embed (16) -> h = e + FFN(e) -> head -> logits (4 classes)
    FFN(e) = MoE_2(relu(MoE_1(e)))       MoE_1: 16 -> 32, MoE_2: 32 -> 16, 8 experts, top-2

``kind="static"`` uses plain Linear layers of the same shapes (one expert's FLOPs),
``"moe"`` the fully dynamic :class:`MoELinear` (noisy top-2 routers, CV^2 balancing loss 1e-2,
the reference code's defaults), ``"pad"`` the same network made partially dynamic.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_int, fail
from tinydyn.autograd.function import no_grad
from tinydyn.autograd.ops_elementwise import relu
from tinydyn.autograd.ops_nn import cross_entropy
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import Tensor
from tinydyn.data.tasks.base import Task, split
from tinydyn.dynamic.moe.routers import NoisyTopKRouter
from tinydyn.dynamic.padnet.moe import MoELinear, PadMoELinear
from tinydyn.nn.layers import Linear
from tinydyn.nn.module import Module
from tinydyn.optim.adam import Adam

__all__ = ["MOE_KINDS", "MoENet", "moe_aux_loss", "piecewise_task", "to_pad_moe",
           "train_moe_classifier"]

MOE_KINDS = ("static", "moe", "pad")


def piecewise_task(seed: int = 0, n_clusters: int = 8, dim: int = 8, n_classes: int = 4,
                   sizes=(3000, 500, 1000)) -> Task:
    """Inputs from ``n_clusters`` Gaussian clusters in R^dim (centres N(0, 3^2), unit spread);
    each cluster labels its points by its own rule ``argmax((x - mu_c) A_c)``, A_c (dim,
    n_classes) random. One linear rule cannot serve every cluster: experts can."""
    fn = "piecewise_task"
    seed = check_int(fn, "seed", seed, min_value=0)
    n_clusters = check_int(fn, "n_clusters", n_clusters, min_value=1)
    rng = np.random.default_rng(seed)
    centres = 3.0 * rng.standard_normal((n_clusters, dim))
    rules = rng.standard_normal((n_clusters, dim, n_classes))
    n = int(sum(sizes))
    cluster = rng.integers(0, n_clusters, n)
    offset = rng.standard_normal((n, dim))
    x = (centres[cluster] + offset).astype(np.float32)
    label = np.einsum("nd,ndc->nc", offset, rules[cluster]).argmax(1).astype(np.int64)
    train, val, test = split([x, label], ("x", "label"), {"cluster": cluster}, sizes)
    return Task("piecewise", "Gaussian clusters, each with its own linear labelling rule.",
                train, val, test, num_classes=n_classes, input_shape=(dim,),
                info={"n_clusters": n_clusters})


class MoENet(Module):
    """x (B, d_in) -> logits (B, classes); see the module docstring for the layout."""

    def __init__(self, d_in: int, num_classes: int, d_model: int = 16, d_ff: int = 32,
                 n_experts: int = 8, k: int = 2, kind: str = "moe", rng=None,
                 dtype=np.float32):
        super().__init__()
        fn = "MoENet"
        if kind not in MOE_KINDS:
            fail(fn, f"kind must be one of {MOE_KINDS}, got {kind!r}")
        rng = get_rng(rng, fn)
        self.kind = kind
        self.embed = Linear(d_in, d_model, rng=rng, dtype=dtype)
        if kind == "static":
            self.ffn1 = Linear(d_model, d_ff, rng=rng, dtype=dtype)
            self.ffn2 = Linear(d_ff, d_model, rng=rng, dtype=dtype)
        else:
            self.ffn1 = MoELinear(NoisyTopKRouter(d_model, n_experts, k, rng=rng, dtype=dtype),
                                  d_model, d_ff, n_experts, rng=rng, dtype=dtype)
            self.ffn2 = MoELinear(NoisyTopKRouter(d_ff, n_experts, k, rng=rng, dtype=dtype),
                                  d_ff, d_model, n_experts, rng=rng, dtype=dtype)
        self.head = Linear(d_model, num_classes, rng=rng, dtype=dtype)
        if kind == "pad":
            to_pad_moe(self, rng)

    def forward(self, x: Tensor) -> Tensor:
        e = self.embed(x)
        return self.head(e + self.ffn2(relu(self.ffn1(e))))


def to_pad_moe(model: Module, rng=None) -> int:
    """Replace, in place, every MoELinear of ``model`` by its PAD twin (same router and
    experts, all entries dynamic). Returns how many were replaced."""
    rng = get_rng(rng, "to_pad_moe")
    count = 0
    for module in list(model.modules()):
        for name, child in list(module._modules.items()):
            if isinstance(child, MoELinear) and not isinstance(child, PadMoELinear):
                module._modules[name] = PadMoELinear.from_dynamic(child, rng)
                count += 1
    return count


def moe_aux_loss(model: Module):
    """Sum of the balancing losses of the model's MoE layers after its last forward, or None."""
    total = None
    for m in model.modules():
        loss = getattr(m, "aux_loss", None)
        if isinstance(loss, Tensor) and hasattr(m, "router"):
            total = loss if total is None else total + loss
    return total


def moe_loss(model, batch):
    """Cross-entropy plus the balancing losses: the loss IMP scores with (spec D.5)."""
    loss = cross_entropy(model(Tensor(batch[0])), batch[1])
    aux = moe_aux_loss(model)
    return loss if aux is None else loss + aux


def _accuracy(model, x, y) -> float:
    model.eval()
    with no_grad():
        return float((model(Tensor(x)).data.argmax(1) == y).mean())


def train_moe_classifier(model, task, *, steps: int, batch: int = 64, lr: float = 1e-2,
                         rng=None) -> dict:
    """Adam on cross-entropy + balancing loss; ``{"val_accuracy", "test_accuracy", "losses"}``."""
    fn = "train_moe_classifier"
    steps = check_int(fn, "steps", steps, min_value=1)
    batch = check_int(fn, "batch", batch, min_value=1)
    if not isinstance(rng, np.random.Generator):
        fail(fn, f"rng must be a numpy.random.Generator, got {type(rng).__name__}", TypeError)
    x, y = task.train.fields[0], task.train.fields[1]
    opt = Adam(model.parameters(), lr=lr)
    losses = []
    model.train()
    for _ in range(steps):
        idx = rng.integers(0, len(y), size=batch)
        loss = moe_loss(model, (x[idx], y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.data))
    return {"val_accuracy": _accuracy(model, *task.val.fields[:2]),
            "test_accuracy": _accuracy(model, *task.test.fields[:2]), "losses": losses}
