"""Functions, the tape, and the backward pass.

An op is a :class:`Function` subclass with two static methods side by side::

    class Mul(Function):
        @staticmethod
        def forward(ctx, a, b):           # raw NumPy arrays in, one array out
            ctx.save_for_backward(a, b)
            return a * b

        @staticmethod
        def backward(ctx, grad):          # one gradient (or None) per input
            a, b = ctx.saved
            return grad * b, grad * a

``Mul.apply(x, y)`` runs the forward on the tensors' arrays and, when gradients are wanted,
records a :class:`Node` on the output. ``Tensor.backward`` then walks the recorded graph in
reverse topological order *iteratively* (an unrolled RNN is a graph thousands of nodes deep,
far past Python's recursion limit).

Broadcasting is undone in exactly one place, :func:`unbroadcast`, called by the engine: an op's
backward may return a gradient in the broadcast shape of its output and the engine sums it
back down to the input's shape.
"""

from __future__ import annotations

import contextlib

import numpy as np

from tinydyn.autograd.memory import tune_malloc

# Every step frees and reallocates the same big arrays: keep freed memory for reuse instead of
# paying a page fault per 4 KiB of fresh memory (see tinydyn.autograd.memory).
tune_malloc()

_grad_enabled = True

# Callables told about every op application: observer(fn_class, input_arrays, output_array,
# kwargs). The FLOP counter of tinydyn.measure registers here; empty in normal use.
op_observers: list = []


def is_grad_enabled() -> bool:
    """True unless inside :func:`no_grad`."""
    return _grad_enabled


class no_grad(contextlib.ContextDecorator):
    """Context manager (and decorator) under which no graph is recorded."""

    def __enter__(self):
        global _grad_enabled
        self._prev = _grad_enabled
        _grad_enabled = False
        return self

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._prev
        return False


class enable_grad(no_grad):
    """Context manager that turns recording back on inside a :func:`no_grad` block."""

    def __enter__(self):
        global _grad_enabled
        self._prev = _grad_enabled
        _grad_enabled = True
        return self


class Context:
    """Scratch space an op's forward fills for its backward."""

    __slots__ = ("saved", "needs_input_grad", "__dict__")

    def __init__(self):
        self.saved = ()
        self.needs_input_grad = ()

    def save_for_backward(self, *arrays) -> None:
        self.saved = arrays


class Node:
    """One recorded op application: which Function, its context, and its input tensors."""

    __slots__ = ("fn", "ctx", "inputs", "freed")

    def __init__(self, fn, ctx, inputs):
        self.fn = fn
        self.ctx = ctx
        self.inputs = inputs
        self.freed = False


class Function:
    """Base class of every differentiable op. Subclasses define ``forward`` and ``backward``."""

    @staticmethod
    def forward(ctx, *arrays, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **kwargs):
        """Run ``forward`` on the inputs' arrays; record the op if any input needs a gradient.

        Non-tensor inputs (Python numbers, arrays) are treated as constants. Python numbers
        take the dtype of the first floating tensor input, so ``x * 2.0`` stays float32.
        """
        tensors = []
        needs_grad = False
        for x in inputs:
            if x.__class__ is not Tensor and not isinstance(x, Tensor):
                x = Tensor(_constant(x, _float_dtype(inputs)), _copy=False)
            elif x.requires_grad:
                needs_grad = True
            tensors.append(x)
        ctx = Context()
        arrays = [t.data for t in tensors]
        out = cls.forward(ctx, *arrays, **kwargs)
        if op_observers:
            for observe in op_observers:
                observe(cls, arrays, out, kwargs)
        if not (needs_grad and _grad_enabled):
            return Tensor(out, _copy=False)
        # like torch's ctx.needs_input_grad: lets a backward skip gradients nobody wants
        ctx.needs_input_grad = tuple(t.requires_grad for t in tensors)
        result = Tensor(out, requires_grad=True, _copy=False)
        result._node = Node(cls, ctx, tensors)
        return result


def _float_dtype(inputs):
    """The dtype of the first floating tensor among ``inputs`` (None if there is none)."""
    for x in inputs:
        if isinstance(x, Tensor) and x.data.dtype.kind == "f":
            return x.data.dtype
    return None


def _constant(x, dtype):
    """A non-tensor operand as an array: Python numbers take ``dtype`` (float32 if None)."""
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        if dtype is not None:
            return np.asarray(x, dtype=dtype)
        return np.asarray(x, dtype=np.float32 if isinstance(x, float) else np.int64)
    return np.asarray(x)


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` over the axes along which an input of ``shape`` was broadcast."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def _topological_order(root) -> list:
    """Tensors reachable from ``root`` through recorded nodes, inputs before outputs.

    A depth-first walk with an explicit stack: each tensor is expanded once and pushed once
    more to be emitted after all of its inputs. A tensor is marked visited when it is expanded,
    not when it is pushed: in ``x * log(x)`` x is pushed by the product before ``log`` reaches
    it, and must still be emitted before ``log``.
    """
    order = []
    visited = set()  # ids, not tensors: Tensor.__eq__ is elementwise
    stack = [(root, False)]
    pop, push = stack.pop, stack.append
    while stack:
        tensor, expanded = pop()
        if expanded:
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        push((tensor, True))
        node = tensor._node
        if node is not None:
            for parent in node.inputs:
                if parent.requires_grad and id(parent) not in visited:
                    push((parent, False))
    return order


def backward(root, grad=None, retain_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf) into ``leaf.grad`` for every leaf that requires a gradient."""
    if not root.requires_grad:
        raise RuntimeError(
            "backward: this tensor does not require grad (no input had requires_grad=True, "
            "or it was computed under no_grad)"
        )
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward: grad can be omitted only for a single-element tensor, "
                f"got shape {root.shape}; pass grad= with that shape"
            )
        grad = np.array(1, dtype=root.data.dtype).reshape(root.data.shape)
    else:
        grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=root.data.dtype)
        if grad.shape != root.data.shape:
            raise ValueError(
                f"backward: grad has shape {grad.shape} but the tensor has shape {root.shape}"
            )
    grads = {id(root): grad}
    for tensor in reversed(_topological_order(root)):
        g = grads.pop(id(tensor), None)
        if g is None:
            continue
        node = tensor._node
        if node is None:  # a leaf: accumulate (a copy, since g may be shared with other leaves)
            if tensor.grad is None:
                tensor.grad = Tensor(np.array(g, dtype=tensor.data.dtype), _copy=False)
            else:
                tensor.grad.data = tensor.grad.data + g
            continue
        if node.freed:
            raise RuntimeError(
                f"backward: the graph through {node.fn.__name__} was already freed by an earlier "
                "backward(); pass retain_graph=True to the first backward() to go through it twice"
            )
        input_grads = node.fn.backward(node.ctx, g)
        if input_grads.__class__ is not tuple:
            input_grads = (input_grads,)
        if len(input_grads) != len(node.inputs):
            raise RuntimeError(
                f"backward: {node.fn.__name__}.backward returned {len(input_grads)} gradients "
                f"for {len(node.inputs)} inputs"
            )
        for parent, pg in zip(node.inputs, input_grads):
            if pg is None or not parent.requires_grad:
                continue
            if pg.__class__ is not np.ndarray:
                pg = np.asarray(pg)
            if pg.shape != parent.data.shape:
                pg = unbroadcast(pg, parent.data.shape)
            key = id(parent)
            if key in grads:
                grads[key] = grads[key] + pg
            else:
                grads[key] = pg
        if not retain_graph:
            node.ctx = None  # frees the saved arrays
            node.freed = True


from tinydyn.autograd.tensor import Tensor  # noqa: E402  (circular: Tensor needs Function)
