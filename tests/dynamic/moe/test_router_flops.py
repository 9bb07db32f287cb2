"""Each balanced or unlearned router's ``flops(S)`` is what the FLOP counter records."""

import numpy as np
import pytest

from tinydyn import Tensor
from tinydyn.dynamic.moe import BaseRouter, ExpertChoiceRouter, HashRouter, ThorRouter


@pytest.mark.parametrize("make", [
    lambda: ExpertChoiceRouter(6, 4, rng=np.random.default_rng(0)),
    lambda: BaseRouter(6, 4, rng=np.random.default_rng(0)),
    lambda: HashRouter.random(6, 4, 10, rng=np.random.default_rng(0)),
    lambda: ThorRouter(6, 4, rng=np.random.default_rng(0)),
])
def test_router_flops_match_the_flop_counter(make):
    from tinydyn.measure.flops import FlopCounter

    router = make()
    x = Tensor(np.random.default_rng(1).standard_normal((16, 6)).astype(np.float32))
    with FlopCounter() as counter:
        router(x, np.arange(16) % 10)
    # BASE's affinities are computed in NumPy, outside the graph the counter watches
    unseen = 2 * 16 * 6 * 4 if isinstance(router, BaseRouter) else 0
    assert router.flops(16) == counter.total + unseen
