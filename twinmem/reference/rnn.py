"""NumPy float64 reference of the recurrent family: the oracle that says which twin is wrong.

Written in ``autograd.numpy`` (NumPy with exact reverse-mode gradients), functional style (no
in-place writes), statement for statement like the twins' explicit path. Canonical layout and gate
orders: see ``twinmem.layouts.recurrent``. Intermediates: per cell k (k = layer * num_directions +
direction) the per-step gates and the cell's h_t, stacked over time in time order, as
``cells.{k}.{name}`` (B, T, H); padded steps are computed too (from the carried state) and kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import cast

from twinmem.configs.rnn import (
    GRUConfig,
    LSTMConfig,
    LSTMLanguageModelConfig,
    RecurrentConfig,
    RNNClassifierConfig,
    RNNConfig,
    Seq2SeqAttentionConfig,
    attention_of,
    encoder_of,
    lstm_of,
    num_directions,
    rnn_of,
)
from twinmem.reference.attention import additive_attention
from twinmem.reference.backend import Array, np

# A cell: (x_t, state) -> (new state, per-step intermediates).
Cell = Callable[[Array, tuple[Array, ...]], tuple[tuple[Array, ...], dict[str, Array]]]


def sigmoid(x: Array) -> Array:
    return 1.0 / (1.0 + np.exp(-x))


def rnn_cell(
    w: Mapping[str, Array], x_t: Array, state: tuple[Array, ...], activation: str
) -> tuple[tuple[Array, ...], dict[str, Array]]:
    (h_tm1,) = state
    a_t = x_t @ w["W_ih"] + h_tm1 @ w["W_hh"] + w["b"]  # (B, H)
    h_t = np.tanh(a_t) if activation == "tanh" else np.maximum(a_t, 0.0)
    return (h_t,), {"h": h_t}


def lstm_cell(
    w: Mapping[str, Array], x_t: Array, state: tuple[Array, ...]
) -> tuple[tuple[Array, ...], dict[str, Array]]:
    h_tm1, c_tm1 = state
    H = h_tm1.shape[-1]
    z_t = x_t @ w["W_ih"] + h_tm1 @ w["W_hh"] + w["b"]  # (B, 4H)
    i = sigmoid(z_t[:, :H])
    f = sigmoid(z_t[:, H : 2 * H])
    g = np.tanh(z_t[:, 2 * H : 3 * H])
    o = sigmoid(z_t[:, 3 * H :])
    c_t = f * c_tm1 + i * g
    h_t = o * np.tanh(c_t)
    return (h_t, c_t), {"i": i, "f": f, "g": g, "o": o, "c": c_t, "h": h_t}


def gru_cell(
    w: Mapping[str, Array], x_t: Array, state: tuple[Array, ...]
) -> tuple[tuple[Array, ...], dict[str, Array]]:
    (h_tm1,) = state
    H = h_tm1.shape[-1]
    gx = x_t @ w["W_ih"] + w["b"][0]  # (B, 3H)
    gh = h_tm1 @ w["W_hh"] + w["b"][1]  # (B, 3H)
    z = sigmoid(gx[:, :H] + gh[:, :H])
    r = sigmoid(gx[:, H : 2 * H] + gh[:, H : 2 * H])
    n = np.tanh(gx[:, 2 * H :] + r * gh[:, 2 * H :])
    h_t = (1.0 - z) * n + z * h_tm1
    return (h_t,), {"z": z, "r": r, "n": n, "h": h_t}


def _cell_weights(w: Mapping[str, Array], prefix: str, k: int) -> dict[str, Array]:
    return {n: w[f"{prefix}cells.{k}.{n}"] for n in ("W_ih", "W_hh", "b")}


def run_direction(
    cell: Cell, x: Array, mask: Array | None, state: tuple[Array, ...], reverse: bool
) -> tuple[Array, tuple[Array, ...], dict[str, Array]]:
    """One direction over the sequence; a padded step keeps the state and outputs zero."""
    T = x.shape[1]
    outputs, mids = [], []
    for t in range(T - 1, -1, -1) if reverse else range(T):
        new_state, m = cell(x[:, t], state)
        if mask is None:
            state, y_t = new_state, new_state[0]
        else:
            keep = mask[:, t][:, None]  # (B, 1)
            state = tuple(np.where(keep, n, s) for n, s in zip(new_state, state, strict=True))
            y_t = np.where(keep, new_state[0], 0.0)
        outputs.append(y_t)
        mids.append(m)
    if reverse:
        outputs, mids = outputs[::-1], mids[::-1]
    stacked = {n: np.stack([m[n] for m in mids], axis=1) for n in mids[0]}  # (B, T, H) each
    return np.stack(outputs, axis=1), state, stacked


def recurrent(
    w: Mapping[str, Array],
    config: RecurrentConfig,
    kind: str,
    x: Array,
    mask: Array | None = None,
    h_0: Array | None = None,
    c_0: Array | None = None,
    prefix: str = "",
) -> tuple[Array, tuple[Array, ...], dict[str, Array]]:
    """Stacked, optionally bidirectional layers; returns (output, final states, intermediates)."""
    D = num_directions(config)
    B, H = x.shape[0], config.hidden_size
    cells = {
        # kind "rnn" comes with an RNNConfig, the one config with an activation.
        "rnn": lambda wk: lambda x_t, s: rnn_cell(wk, x_t, s, cast(RNNConfig, config).activation),
        "lstm": lambda wk: lambda x_t, s: lstm_cell(wk, x_t, s),
        "gru": lambda wk: lambda x_t, s: gru_cell(wk, x_t, s),
    }[kind]
    if mask is not None:
        # Padded steps read zeros, as in the twins (where a NaN or inf there would otherwise reach the
        # gradients): the cell's intermediates at a padded step are those of a zero input.
        x = np.where(mask[..., None], x, 0.0)
    layer_input, finals, mids = x, [], {}
    for layer in range(config.num_layers):
        outputs = []
        for d in range(D):
            k = layer * D + d
            h = np.zeros((B, H)) if h_0 is None else h_0[k]
            state: tuple[Array, ...] = (h, np.zeros((B, H)) if c_0 is None else c_0[k]) if kind == "lstm" else (h,)
            y, state, m = run_direction(cells(_cell_weights(w, prefix, k)), layer_input, mask, state, d == 1)
            outputs.append(y)
            finals.append(state)
            mids.update({f"cells.{k}.{n}": v for n, v in m.items()})
        # Dropout between layers acts in training only; the reference is inference.
        layer_input = np.concatenate(outputs, axis=-1)  # (B, T, D H)
    h_n = np.stack([s[0] for s in finals], axis=0)  # (L D, B, H)
    states = (h_n, np.stack([s[1] for s in finals], axis=0)) if kind == "lstm" else (h_n,)
    return layer_input, states, mids


def rnn(
    w: Mapping[str, Array], config: RNNConfig, x: Array, mask: Array | None = None, h_0: Array | None = None
) -> tuple[tuple[Array, ...], dict[str, Array]]:
    output, states, mids = recurrent(w, config, "rnn", x, mask, h_0)
    return (output, *states), mids


def lstm(
    w: Mapping[str, Array],
    config: LSTMConfig,
    x: Array,
    mask: Array | None = None,
    h_0: Array | None = None,
    c_0: Array | None = None,
) -> tuple[tuple[Array, ...], dict[str, Array]]:
    output, states, mids = recurrent(w, config, "lstm", x, mask, h_0, c_0)
    return (output, *states), mids


def gru(
    w: Mapping[str, Array], config: GRUConfig, x: Array, mask: Array | None = None, h_0: Array | None = None
) -> tuple[tuple[Array, ...], dict[str, Array]]:
    output, states, mids = recurrent(w, config, "gru", x, mask, h_0)
    return (output, *states), mids


def rnn_classifier(
    w: Mapping[str, Array], config: RNNClassifierConfig, x: Array, mask: Array | None = None
) -> tuple[tuple[Array, ...], dict[str, Array]]:
    _, (h_n,), mids = recurrent(w, rnn_of(config), "rnn", x, mask, prefix="rnn.")
    logits = h_n[-1] @ w["W_y"] + w["b_y"]  # (B, O)
    return (logits,), {f"rnn.{n}": v for n, v in mids.items()}


def lstm_language_model(
    w: Mapping[str, Array], config: LSTMLanguageModelConfig, tokens: Array, mask: Array | None = None
) -> tuple[tuple[Array, ...], dict[str, Array]]:
    embedded = w["E"][tokens]  # (B, T, E)
    output, _, mids = recurrent(w, lstm_of(config), "lstm", embedded, mask, prefix="lstm.")
    logits = output @ w["W_y"] + w["b_y"]  # (B, T, V)
    return (logits,), {"embedded": embedded, **{f"lstm.{n}": v for n, v in mids.items()}}


def seq2seq_attention(
    w: Mapping[str, Array], config: Seq2SeqAttentionConfig, source: Array, source_mask: Array | None, target: Array
) -> tuple[tuple[Array, ...], dict[str, Array]]:
    values, (h_n,), encoder_mids = recurrent(
        w, encoder_of(config), "gru", w["E_source"][source], source_mask, prefix="encoder."
    )
    w_attention = {n[len("attention.") :]: v for n, v in w.items() if n.startswith("attention.")}
    w_decoder = {n[len("decoder.") :]: v for n, v in w.items() if n.startswith("decoder.")}
    h_t, steps = h_n[-1], []  # the decoder starts from the encoder's final state (B, H)
    for t in range(target.shape[1]):
        e_t = w["E_target"][target[:, t]]  # (B, E)
        (context, alpha), _ = additive_attention(w_attention, attention_of(config), h_t, values, source_mask)
        (h_t,), m = gru_cell(w_decoder, np.concatenate([e_t, context], axis=-1), (h_t,))
        logits_t = h_t @ w["W_y"] + w["b_y"]  # (B, V_t)
        steps.append(
            {"context": context, **{f"decoder.{n}": v for n, v in m.items()}, "logits": logits_t, "alpha": alpha}
        )
    stacked = {n: np.stack([s[n] for s in steps], axis=1) for n in steps[0]}
    logits, attention_weights = stacked.pop("logits"), stacked.pop("alpha")  # (B, T, V_t), (B, T, S)
    mids = {**{f"encoder.{n}": v for n, v in encoder_mids.items()}, **stacked}
    return (logits, attention_weights), mids
