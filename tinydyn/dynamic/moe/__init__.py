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
from tinydyn.dynamic.moe.dispatch import FORMS, dense_moe, moe_ffn, reference_moe_loop
from tinydyn.dynamic.moe.layer import MoELayer, aux_loss_of
from tinydyn.dynamic.moe.routers import (
    GShardRouter,
    NoisyTopKRouter,
    SwitchRouter,
    cv_squared,
    gshard_balance_loss,
    router_z_loss,
    switch_balance_loss,
    token_choice_routing,
)
# balanced and unlearned routing (lesson 08)
from tinydyn.dynamic.moe.base_layers import BaseRouter
from tinydyn.dynamic.moe.expert_choice import ExpertChoiceRouter, expert_choice_select
from tinydyn.dynamic.moe.hashing import HashRouter, balanced_hash, random_hash
from tinydyn.dynamic.moe.thor import ThorRouter, consistency_loss, thor_loss

__all__ = [
    "CAPACITY_ROUNDINGS", "FORMS", "GShardRouter", "MoELayer", "NoisyTopKRouter", "Router",
    "Routing", "SwitchRouter", "apply_capacity", "aux_loss_of", "concat_routings",
    "cv_squared", "dense_moe", "expert_capacity", "moe_ffn", "queue_positions",
    "gshard_balance_loss", "reference_moe_loop", "router_z_loss", "switch_balance_loss",
    "token_choice_routing",
    "BaseRouter", "ExpertChoiceRouter", "HashRouter", "ThorRouter", "balanced_hash",
    "consistency_loss", "expert_choice_select", "random_hash", "thor_loss",
]
