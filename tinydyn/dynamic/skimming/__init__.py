"""Skimming RNNs: spend less computation on unimportant tokens (Skim-RNN, VCRNN, LSTM-Jump)."""

from tinydyn.dynamic.skimming.common import (
    LSTMClassifier,
    accuracy,
    chrono_init,
    compare,
    fit,
    lstm_batched,
    lstm_predictor,
    make_loader,
    max_length,
    pad_tokens,
    time_batch1,
    time_lstm,
    token_batch,
    train_lstm_baseline,
)
from tinydyn.dynamic.skimming.timing import batch1_runner, time_paired
from tinydyn.dynamic.skimming.vcrnn import (
    VCRNN,
    VCRNNClassifier,
    rnn_step_flops,
    scheduler_flops,
    vcrnn,
    vcrnn_flops,
    vcrnn_penalty,
)
from tinydyn.dynamic.skimming.vcrnn_experiment import (
    run_vcrnn_experiment,
    sweep_vcrnn,
    train_vcrnn,
)
from tinydyn.dynamic.skimming.lstm_jump import (
    LSTMJump,
    lstm_jump_flops,
    read_positions,
    reinforce_loss,
)
from tinydyn.dynamic.skimming.lstm_jump_experiment import (
    run_lstm_jump_experiment,
    sweep_lstm_jump,
    train_lstm_jump,
)
from tinydyn.dynamic.skimming.skim_rnn import (
    SkimLSTM,
    SkimRNNClassifier,
    decision_flops,
    skim_penalty,
    skim_rnn,
    skim_rnn_flops,
    small_cell_flops,
)
from tinydyn.dynamic.skimming.skim_rnn_experiment import (
    evaluate_skim_rnn,
    run_skim_rnn_experiment,
    sweep_skim_rnn,
    train_skim_rnn,
)
