"""Early exit: multi-exit networks (an internal classifier after every layer), five exit
policies (entropy, max-probability, patience, learned, cascade), the training recipes of
DeeBERT, PABEE, FastBERT, the Right Tool and BERxiT, and batched inference engines that keep
the savings (compaction, refill) beside batch size 1 and wait-for-all."""

from tinydyn.dynamic.early_exit.engines import (
    ENGINES,
    ExitResult,
    run_batch1,
    run_compaction,
    run_engine,
    run_refill,
    run_wait_for_all,
)
from tinydyn.dynamic.early_exit.models import (
    MLPRunner,
    MultiExitMLP,
    MultiExitTransformer,
    TransformerRunner,
)
from tinydyn.dynamic.early_exit.policies import (
    EntropyPolicy,
    LearnedPolicy,
    MaxProbPolicy,
    PatiencePolicy,
    exit_decisions,
    normalized_entropy,
    stable_entropy,
    stable_softmax,
)

__all__ = [
    "ENGINES", "EntropyPolicy", "ExitResult", "LearnedPolicy", "MLPRunner", "MaxProbPolicy",
    "MultiExitMLP", "MultiExitTransformer", "PatiencePolicy", "TransformerRunner",
    "exit_decisions", "normalized_entropy", "run_batch1", "run_compaction", "run_engine",
    "run_refill", "run_wait_for_all", "stable_entropy", "stable_softmax",
]
