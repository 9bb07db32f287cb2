"""Dropout and Gumbel-softmax with ``torch.nn.functional``'s names and argument order.

One deliberate difference: PyTorch draws from a global generator, tinydyn from an explicit
``numpy.random.Generator`` passed as the keyword ``rng=`` (default: the generator that
``tinydyn.manual_seed`` resets), so a result can always be reproduced from its arguments.
The ops are :func:`tinydyn.autograd.ops_nn.dropout` and
:func:`tinydyn.autograd.ops_estimators.gumbel_softmax`.
"""

from __future__ import annotations

from tinydyn._checks import fail
from tinydyn.autograd import ops_estimators, ops_nn
from tinydyn.autograd.tensor import Tensor

__all__ = ["dropout", "gumbel_softmax"]


def dropout(input: Tensor, p: float = 0.5, training: bool = True,  # noqa: A002
            inplace: bool = False, *, rng=None) -> Tensor:
    """Zero each entry with probability ``p`` and scale the rest by 1/(1-p) (when
    ``training``), as ``torch.nn.functional.dropout``; the mask comes from ``rng``.
    ``inplace=True`` is refused: tinydyn never overwrites a tensor the graph may need."""
    if inplace is not False:
        fail("dropout", f"inplace={inplace!r} is not supported by tinydyn (only inplace=False)")
    return ops_nn.dropout(input, p, training, rng=rng)


def gumbel_softmax(logits: Tensor, tau: float = 1.0, hard: bool = False, *, dim: int = -1,
                   rng=None, noise=None) -> Tensor:
    """A differentiable sample of the categorical softmax(logits) along ``dim``, as
    ``torch.nn.functional.gumbel_softmax``: ``softmax((logits + g) / tau)`` with Gumbel noise
    g, or with ``hard`` its one-hot argmax carrying the soft gradient (straight-through).

    ``dim`` is keyword-only: PyTorch's fourth positional argument is the deprecated ``eps``,
    which tinydyn does not take. ``noise`` gives g explicitly (else it is drawn from ``rng``).
    """
    return ops_estimators.gumbel_softmax(logits, tau, hard, dim, rng=rng, noise=noise)
