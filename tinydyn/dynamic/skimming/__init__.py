"""Skimming RNNs: spend less computation on unimportant tokens (Skim-RNN, VCRNN, LSTM-Jump)."""

from tinydyn.dynamic.skimming.common import (
    LSTMClassifier,
    compare,
    fit,
    lstm_predictor,
    make_loader,
    time_batch1,
    train_lstm_baseline,
)
from tinydyn.dynamic.skimming.vcrnn import (
    VCRNN,
    VCRNNClassifier,
    rnn_step_flops,
    scheduler_flops,
    vcrnn,
    vcrnn_flops,
    vcrnn_penalty,
)
from tinydyn.dynamic.skimming.vcrnn_experiment import run_vcrnn_experiment, train_vcrnn
