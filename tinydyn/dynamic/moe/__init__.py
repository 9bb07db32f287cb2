"""Mixture of experts: routers that send each token to a few expert feed-forward networks.

The contract is :mod:`tinydyn.dynamic.moe.routing` (a :class:`Routing` of flat
(token, expert, gate) assignments, and the :class:`Router` base class); the layer that runs
dispatch -> experts -> combine is :class:`tinydyn.dynamic.moe.layer.MoELayer`.
"""

from tinydyn.dynamic.moe.routing import (
    CAPACITY_ROUNDINGS,
    Router,
    Routing,
    apply_capacity,
    concat_routings,
    expert_capacity,
    queue_positions,
)

__all__ = [
    "CAPACITY_ROUNDINGS", "Router", "Routing", "apply_capacity", "concat_routings",
    "expert_capacity", "queue_positions",
]
