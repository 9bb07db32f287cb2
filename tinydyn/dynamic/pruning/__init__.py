"""Token pruning in Transformers: LTP and Transkimmer (PoWER-BERT as the fixed-budget
baseline), each in three faces: a trainable model with relaxed decisions, hard inference that
physically removes tokens (batched with compaction), and a cost model from the decisions."""

from tinydyn.dynamic.pruning.common import check_batch, encoder_layer, pad_tokens, with_cls
from tinydyn.dynamic.pruning.models import (
    EncoderClassifier,
    PruningClassifier,
    PruningOutput,
    ltp_scores,
)
from tinydyn.dynamic.pruning.methods import (
    LTPClassifier,
    PowerBertClassifier,
    SkimPredictor,
    TranskimmerClassifier,
    ltp_hard_keep,
    ltp_soft_mask,
)
from tinydyn.dynamic.pruning.inference import COMPACTIONS, HardResult, compact_rows, hard_forward
from tinydyn.dynamic.pruning.cost import decision_flops, full_cost, pruning_cost

__all__ = [
    "COMPACTIONS", "EncoderClassifier", "HardResult", "LTPClassifier", "PowerBertClassifier",
    "PruningClassifier", "PruningOutput", "SkimPredictor", "TranskimmerClassifier",
    "check_batch", "compact_rows", "decision_flops", "encoder_layer", "full_cost", "hard_forward",
    "ltp_hard_keep", "ltp_scores", "ltp_soft_mask", "pad_tokens", "pruning_cost", "with_cls",
]
