"""Exercise 08 (balanced and unlearned routing): the auction algorithm and a balanced hash.

Work through lesson 08 (``lessons/08_moe_balanced.py``) first. BASE layers give each of
E experts exactly T/E of the T tokens, maximising the total score ``sum_t scores[t, a_t]``.
Copy every expert C = T/E times into *slots*; each slot has a price. The auction repeats one
step until every token holds a slot: an unassigned token bids for the slot it values most
(value = score - price), raising that slot's price, and evicts the slot's previous holder.
You write three pieces:

1. ``token_bid``: one token's bid;
2. ``auction``: the whole auction;
3. ``balanced_hash``: the table of a balanced Hash layer.

All arrays are NumPy arrays (float64 unless said otherwise); do not modify your inputs.
Check your work with ``tinydyn grade 08`` (or ``pytest exercises/08_moe_balanced``).
"""

import numpy as np  # noqa: F401  (you will need it)


def token_bid(scores, price, eps):
    """The bid of one unassigned token.

    The value of slot j of expert e is ``scores[e] - price[e, j]``. The token bids for the
    cheapest slot of its best expert (the expert whose cheapest slot has the highest value;
    on equal values the lower expert index; on equal prices within the expert the lower slot
    index). Let ``v1`` be that slot's value and ``w`` the best value among *all other slots*:
    the other experts' slots and the same expert's other slots (``w = v1`` if there is no
    other slot at all). The new price of the slot is ``price[e, j] + (v1 - w) + eps``: the
    most the token can pay and still (almost) prefer that slot.

    Args:
        scores: (E,) the token's scores. price: (E, C) slot prices. eps: float > 0.

    Returns:
        ``(e, j, new_price)``: int, int, float. Example: scores [3, 1], price
        [[0, 0.5], [0, 0]], eps 0.1 -> (0, 0, 0.6) (the runner-up is expert 0's other slot,
        worth 2.5).
    """
    raise NotImplementedError(
        "exercise 08 (moe_balanced): implement token_bid — see lesson 08")


def auction(scores, eps):
    """A balanced assignment by the auction algorithm.

    Start with every slot at price 0 and every token unassigned. While a token is unassigned,
    let it bid (``token_bid``) and take the slot, evicting the slot's previous holder (who
    becomes unassigned). The order in which unassigned tokens bid is up to you, and so is
    lowering eps in phases (epsilon-scaling) as long as the last phase uses ``eps``.

    Args:
        scores: (T, E), T divisible by E. eps: float > 0.

    Returns:
        (T,) int64, the expert of every token: each expert exactly T/E times, and a total score
        within ``T * eps`` of the best balanced assignment's.
    """
    raise NotImplementedError(
        "exercise 08 (moe_balanced): implement auction — see lesson 08")


def balanced_hash(frequencies, n_experts):
    """The table of a balanced Hash layer, from the training frequencies of the token ids.

    Visit the ids by decreasing frequency (equal frequencies: lower id first) and give each
    to the expert whose total frequency so far is smallest (equal totals: lower expert index).

    Args:
        frequencies: (V,) int64 counts. n_experts: int >= 1.

    Returns:
        (V,) int64, the expert of every id. Example: frequencies [3, 5, 3, 4], 2 experts ->
        [1, 0, 0, 1].
    """
    raise NotImplementedError(
        "exercise 08 (moe_balanced): implement balanced_hash — see lesson 08")
