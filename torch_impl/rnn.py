"""Recurrent twins, PyTorch side. Twin of ``tf_impl/rnn.py``: read them side by side.

A cell does one time step the way its equations read; a layer (``RNN``, ``LSTM``, ``GRU``) stacks
``num_layers`` of them, optionally bidirectional, over a padded batch. Two execution paths load the
same canonical weights (layout and gate orders: ``twinmem.layouts.recurrent``):

* ``explicit``: a Python loop over the cells, with intermediates;
* ``fused``: torch's own ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` kernel (oneDNN on CPU, cuDNN on GPU)
  over a ``PackedSequence``, called with the cells' parameters as they are: the transposes of the
  column-major kernels are views, the single canonical bias is ``bias_ih`` with a zero ``bias_hh``, and
  the GRU cells hold their gates in torch's r, z, n order already (``GRUCell``). It returns no
  intermediates.

Mask convention (the whole project): bool (B, T), True = valid step, right padding (refused
otherwise). Outputs past a sequence's length are zero; the final state is the state at its last valid
step, for the backward direction too (which starts at that step). An all-False row (no valid step)
gives zero outputs and the initial state as its final state, on both paths.

Precision (float32 and float64: every step in the dtype). In bfloat16 and float16 (the explicit path;
the fused one is refused there: ``layouts.recurrent.fused_refusal``) every tensor a model hands on
(outputs, the carried state h_t and the LSTM's c_t, intermediates) is stored in the dtype, and both
twins make the same rounding choices, stated here. A cell step is one float32 computation from 16-bit
values: the pre-activations x_t W_ih + h_tm1 W_hh + b (float32 products and sums, the bias inside, as
``core.matmul``, not rounded), the sigmoids and tanh, the GRU's r (h_tm1 W_hn + b_hn) and
(1 - z) n + z h_tm1, the LSTM's c_t = f c_tm1 + i g and h_t = o tanh(c_t); then h_t (and c_t) are
rounded once to the dtype, as a 16-bit model stores its state, and so are the gates handed out as
intermediates (nothing computes with those copies). A cell's weights are upcast once per forward, not
per step, so that their gradients, sums over the steps and the batch, are summed in float32 and rounded
once; so are the weights the seq2seq decoder reads at every step (its cell, E_target, W_y, b_y).
Embedding rows are looked up in an upcast copy of the embedding (exactly), so that its gradient, a sum
over a token's occurrences, is summed in float32; the output layers h W_y + b_y are ``core.matmul``.
The attention is the attention family's twin under its own rule. The state is rounded once per step,
and in the backward pass so is its gradient: T roundings, which the contracting recurrence (gates and
tanh' at most 1) damps rather than sums; measured, the error does not grow from T = 5 to 80 (the bound:
``parity_tests/test_low_precision_rnn.py``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from torch_impl.attention import AdditiveAttention
from torch_impl.core import Twin, check_tensors, embed, known_values, matmul, upcast, weight
from twinmem.configs.rnn import (
    GRUConfig,
    LSTMConfig,
    LSTMLanguageModelConfig,
    RNNClassifierConfig,
    RNNConfig,
    Seq2SeqAttentionConfig,
    attention_of,
    check_config,
    check_greedy,
    check_recurrent_inputs,
    check_sample,
    check_seq2seq,
    check_tokens,
    encoder_of,
    lstm_of,
    num_directions,
    rnn_of,
)
from twinmem.layouts.recurrent import (
    GATES,
    TORCH_GATE_ORDER,
    check_path_dtype,
    gate_columns,
    layer_input_size,
    stored_order,
    torch_cell,
    torch_suffix,
)


class RNNCell(Twin):
    r"""One step of an Elman RNN.

    .. math::
        h_t = \mathrm{act}(x_t W_{ih} + h_{t-1} W_{hh} + b)

    where act is tanh or relu. W_ih (D, H), W_hh (H, H), b (H,).

    Call arguments:
        x_t: (B, D). state: ``(h_tm1,)``, (B, H). step_weights: optional ``upcast_weights()``, made once
        by a caller that runs the cell over many steps (the module docstring); None: the step upcasts its own.

    Returns:
        ``(h_t,)`` and the intermediates ``{"h": h_t}``.
    """

    def __init__(self, input_size: int, hidden_size: int, activation: str, dtype: str = "float32"):
        super().__init__(dtype=dtype)
        self.activation = activation
        self.W_ih = weight((input_size, hidden_size), dtype)
        self.W_hh = weight((hidden_size, hidden_size), dtype)
        self.b = weight((hidden_size,), dtype, "zeros")

    def upcast_weights(self):
        """(W_ih, W_hh, b) upcast once, for a caller that runs the cell over many steps (the module docstring)."""
        return upcast(self.W_ih), upcast(self.W_hh), upcast(self.b)

    def forward(self, x_t, state, step_weights=None):
        (h_tm1,) = state
        W_ih, W_hh, b = self.upcast_weights() if step_weights is None else step_weights
        # One float32 step for 16-bit x_t and h_tm1, rounded once (the module docstring).
        a_t = torch.matmul(upcast(x_t), W_ih) + torch.matmul(upcast(h_tm1), W_hh) + b  # (B, H)
        h_t = (torch.tanh(a_t) if self.activation == "tanh" else torch.relu(a_t)).to(x_t.dtype)
        return (h_t,), {"h": h_t}


class LSTMCell(Twin):
    r"""One step of an LSTM.

    .. math::
        \begin{aligned}
        [i_t; f_t; g_t; o_t] &= x_t W_{ih} + h_{t-1} W_{hh} + b \quad \text{(pre-activations)} \\
        i &= \sigma(i_t), \; f = \sigma(f_t), \; g = \tanh(g_t), \; o = \sigma(o_t) \\
        c_t &= f \odot c_{t-1} + i \odot g, \quad h_t = o \odot \tanh(c_t)
        \end{aligned}

    where W_ih (D, 4H), W_hh (H, 4H), b (4H,) hold the gates i, f, g, o in that order of column blocks.

    Call arguments:
        x_t: (B, D). state: ``(h_tm1, c_tm1)``, (B, H) each. step_weights: optional ``upcast_weights()``, as
        in ``RNNCell``.

    Returns:
        ``(h_t, c_t)`` and the intermediates i, f, g, o, c, h.
    """

    def __init__(self, input_size: int, hidden_size: int, dtype: str = "float32"):
        super().__init__(dtype=dtype)
        self.hidden_size = hidden_size
        self.W_ih = weight((input_size, 4 * hidden_size), dtype)
        self.W_hh = weight((hidden_size, 4 * hidden_size), dtype)
        self.b = weight((4 * hidden_size,), dtype, "zeros")

    def upcast_weights(self):
        """(W_ih, W_hh, b) upcast once, for a caller that runs the cell over many steps (the module docstring)."""
        return upcast(self.W_ih), upcast(self.W_hh), upcast(self.b)

    def forward(self, x_t, state, step_weights=None):
        h_tm1, c_tm1 = state
        H = self.hidden_size
        W_ih, W_hh, b = self.upcast_weights() if step_weights is None else step_weights
        # One float32 step for 16-bit x_t, h_tm1 and c_tm1; h_t, c_t and the gates rounded once (the module docstring).
        z_t = torch.matmul(upcast(x_t), W_ih) + torch.matmul(upcast(h_tm1), W_hh) + b  # (B, 4H)
        i = torch.sigmoid(z_t[:, :H])
        f = torch.sigmoid(z_t[:, H : 2 * H])
        g = torch.tanh(z_t[:, 2 * H : 3 * H])
        o = torch.sigmoid(z_t[:, 3 * H :])
        c_t = f * upcast(c_tm1) + i * g
        h_t = o * torch.tanh(c_t)
        mids = {name: v.to(x_t.dtype) for name, v in {"i": i, "f": f, "g": g, "o": o, "c": c_t, "h": h_t}.items()}
        return (mids["h"], mids["c"]), mids


class GRUCell(Twin):
    r"""One step of a GRU, the reset gate applied after the recurrent matmul (torch, Keras ``reset_after``).

    .. math::
        \begin{aligned}
        z &= \sigma(x_t W_{iz} + b_{iz} + h_{t-1} W_{hz} + b_{hz}) \\
        r &= \sigma(x_t W_{ir} + b_{ir} + h_{t-1} W_{hr} + b_{hr}) \\
        n &= \tanh(x_t W_{in} + b_{in} + r \odot (h_{t-1} W_{hn} + b_{hn})) \\
        h_t &= (1 - z) \odot n + z \odot h_{t-1}
        \end{aligned}

    where W_ih (D, 3H) and W_hh (H, 3H) hold the gates z, r, n in that order of column blocks (Keras'
    order; torch's is r, z, n) and b (2, 3H) holds the input biases in row 0, the recurrent ones in row 1.
    In memory this twin holds the gates in torch's order r, z, n, its kernel's, so that the fused path
    passes the parameters as they are; ``stored_orders`` gives the canonical order back (at load, at
    export and for gradients reported by canonical name).

    Call arguments:
        x_t: (B, D). state: ``(h_tm1,)``, (B, H). step_weights: optional ``upcast_weights()``, as in ``RNNCell``.

    Returns:
        ``(h_t,)`` and the intermediates z, r, n, h.
    """

    def __init__(self, input_size: int, hidden_size: int, dtype: str = "float32"):
        super().__init__(dtype=dtype)
        self.hidden_size = hidden_size
        self.gates = gate_columns(TORCH_GATE_ORDER["gru"], hidden_size)  # the stored order: r, z, n
        self.W_ih = weight((input_size, 3 * hidden_size), dtype)
        self.W_hh = weight((hidden_size, 3 * hidden_size), dtype)
        self.b = weight((2, 3 * hidden_size), dtype, "zeros")

    def stored_orders(self) -> dict[str, list[int]]:
        """Each weight's permutation of its gate axis (the last) that gives the canonical array back."""
        order = stored_order("gru", self.hidden_size)
        assert order is not None  # the GRU's orders differ (twinmem.layouts.recurrent)
        return {"W_ih": order, "W_hh": order, "b": order}

    def upcast_weights(self):
        """(W_ih, W_hh, b) upcast once, for a caller that runs the cell over many steps (the module docstring)."""
        return upcast(self.W_ih), upcast(self.W_hh), upcast(self.b)

    def forward(self, x_t, state, step_weights=None):
        (h_tm1,) = state
        cols = self.gates
        W_ih, W_hh, b = self.upcast_weights() if step_weights is None else step_weights
        # One float32 step for 16-bit x_t and h_tm1; h_t and the gates rounded once (the module docstring).
        h = upcast(h_tm1)
        gx = torch.matmul(upcast(x_t), W_ih) + b[0]  # (B, 3H)
        gh = torch.matmul(h, W_hh) + b[1]  # (B, 3H)
        z = torch.sigmoid(gx[:, cols["z"]] + gh[:, cols["z"]])
        r = torch.sigmoid(gx[:, cols["r"]] + gh[:, cols["r"]])
        n = torch.tanh(gx[:, cols["n"]] + r * gh[:, cols["n"]])
        h_t = (1.0 - z) * n + z * h
        mids = {name: v.to(x_t.dtype) for name, v in {"z": z, "r": r, "n": n, "h": h_t}.items()}
        return (mids["h"],), mids


def run_direction(cell, x, mask, state, reverse: bool):
    """One direction over the sequence; a padded step keeps the state and outputs zero."""
    T = x.shape[1]
    step_weights = cell.upcast_weights()  # once for all steps (the module docstring)
    outputs, mids = [], []
    for t in range(T - 1, -1, -1) if reverse else range(T):
        new_state, m = cell(x[:, t], state, step_weights)
        if mask is None:
            state, y_t = new_state, new_state[0]
        else:
            keep = mask[:, t][:, None]  # (B, 1)
            state = tuple(torch.where(keep, n, s) for n, s in zip(new_state, state, strict=True))
            y_t = torch.where(keep, new_state[0], torch.zeros_like(new_state[0]))
        outputs.append(y_t)
        mids.append(m)
    if reverse:
        outputs, mids = outputs[::-1], mids[::-1]
    stacked = {n: torch.stack([m[n] for m in mids], dim=1) for n in mids[0]}  # (B, T, H) each
    return torch.stack(outputs, dim=1), state, stacked


class _Recurrent(Twin):
    """What ``RNN``, ``LSTM`` and ``GRU`` share: the stack of layers and directions, both paths."""

    kind = ""
    # The fused path's torch kernel: the function nn.RNN / nn.LSTM / nn.GRU calls.
    kernel: Callable

    def __init__(self, config, dtype: str = "float32"):
        super().__init__(dtype=dtype)
        check_config(config)
        check_path_dtype(config.path, dtype)
        self.config = c = config
        D = num_directions(c)
        sizes = [layer_input_size(c, k) for k in range(c.num_layers * D)]
        # Both paths keep the parameters in the cells; the fused path hands them to torch's kernel.
        self.cells = nn.ModuleList([self.make_cell(n, dtype) for n in sizes])
        if c.path == "fused":
            # Each call passes the cells' parameters in. The zero bias_hh is a constant.
            self.kernel = self.make_kernel()
            # W (in, G H) stored column-major: W.T is then torch's (G H, in) contiguous, so the kernel takes
            # it as it is and its gradient comes back in place (the GRU's gates are in torch's order already:
            # GRUCell). Stored row-major, every call copied each matrix transposed, forward and backward (a
            # third of the fused LSTM's time at H128 B16 T50); reordering the GRU's gates cost it 1.4x nn.GRU.
            for cell in self.cells:
                for name in ("W_ih", "W_hh"):
                    setattr(cell, name, nn.Parameter(getattr(cell, name).detach().T.contiguous().T))
            zero_bias = torch.zeros(GATES[self.kind] * c.hidden_size, dtype=getattr(torch, dtype))
            self.register_buffer("zero_bias", zero_bias, False)
        self.inter_layer_dropout = nn.Dropout(c.dropout)
        # Inference mode from the start, as a Keras layer called without training=True; .train() turns
        # the dropout between layers on.
        self.train(False)

    def make_cell(self, input_size: int, dtype: str) -> Twin:
        """The cell of one layer and direction, reading ``input_size`` features: each kind's own."""
        raise NotImplementedError

    def make_kernel(self) -> Callable:
        """The framework's kernel of this kind, for the fused path (the function its nn module calls)."""
        raise NotImplementedError

    def initial_states(self, k: int, B: int, h_0, c_0, like):
        zeros = torch.zeros((B, self.config.hidden_size), dtype=like.dtype, device=like.device)
        h = zeros if h_0 is None else h_0[k]
        return (h, zeros if c_0 is None else c_0[k]) if self.kind == "lstm" else (h,)

    def run(self, x, mask=None, h_0=None, c_0=None, return_intermediates=False):
        c = self.config
        check_tensors(x=x, mask=mask, h_0=h_0, c_0=c_0)
        check_recurrent_inputs(c, x, mask, h_0, c_0, self.compute_dtype, known_values)
        if c.path == "fused":
            # torch's kernel runs every layer and direction, and the dropout between them, in one call;
            # Keras' layers each run one layer and direction, so the TF twin loops over them below.
            outputs = self.run_kernel(x, mask, h_0, c_0)
            return (outputs, {}) if return_intermediates else outputs
        # Padded steps zeroed before any cell reads them: a padded step's result is dropped by a select,
        # whose gradient still multiplies the dropped branch's by 0, and 0 x NaN is NaN; zeroed, a NaN or
        # inf at a padded step reaches no output and no gradient (the mask convention above). The fused
        # path's packed sequence never reads a padded step (run_kernel), so it skips this (B, T, D) pass.
        if mask is not None:
            x = torch.where(mask[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device))
        D, B = num_directions(c), x.shape[0]
        layer_input, finals, mids = x, [], {}
        for layer in range(c.num_layers):
            if layer > 0:
                layer_input = self.inter_layer_dropout(layer_input)  # acts after .train(), as Keras' training=True
            ys = []  # per direction, (B, T, H)
            for d in range(D):
                k = layer * D + d
                state = self.initial_states(k, B, h_0, c_0, x)
                y, state, m = run_direction(self.cells[k], layer_input, mask, state, d == 1)
                mids.update({f"cells.{k}.{n}": v for n, v in m.items()})
                ys.append(y)
                finals.append(state)
            layer_input = torch.cat(ys, dim=-1)  # (B, T, D H)
        h_n = torch.stack([s[0] for s in finals], dim=0)  # (L D, B, H)
        states = (h_n, torch.stack([s[1] for s in finals], dim=0)) if self.kind == "lstm" else (h_n,)
        outputs = (layer_input, *states)
        return (outputs, mids) if return_intermediates else outputs

    def kernel_weights(self) -> dict[str, torch.Tensor]:
        """The cells' parameters under torch's names and in its (out, in) orientation, as views.

        ``twinmem.layouts.recurrent.torch_cell``: transposes of the column-major kernels, the single
        canonical bias as ``bias_ih`` with the zero ``bias_hh``, the GRU's bias rows; the GRU cells hold
        their gates in torch's order already. No copy, so gradients reach the parameters in place.
        """
        out = {}
        D = num_directions(self.config)
        for k, cell in enumerate(self.cells):
            weights = torch_cell(self.kind, cell.W_ih, cell.W_hh, cell.b, self.zero_bias)
            out.update({f"{n}{torch_suffix(k, D)}": w for n, w in weights.items()})
        return out

    def run_kernel(self, x, mask, h_0, c_0):
        """torch's kernel over a PackedSequence: zero past each length, states at the last valid step.

        The kernel is the function ``nn.LSTM`` (``nn.RNN``, ``nn.GRU``) calls, given the cells' parameters
        as its flat weight list: through the module (``torch.func.functional_call``, swapping parameters
        in and out) each call cost 0.2-0.3 ms more, 1.3x nn.LSTM's time at batch 1.
        """
        c = self.config
        B, T = x.shape[:2]
        zeros = torch.zeros((c.num_layers * num_directions(c), B, c.hidden_size), dtype=x.dtype, device=x.device)
        hx = [zeros if h_0 is None else h_0] + ([zeros if c_0 is None else c_0] if self.kind == "lstm" else [])
        weights = list(self.kernel_weights().values())  # torch's flat order: per cell W_ih, W_hh, b_ih, b_hh
        dropout = (c.dropout, self.training)  # between layers, in training only (as nn.LSTM)
        if mask is None:
            y, *states = self.kernel(x, _hx(hx), weights, True, c.num_layers, *dropout, c.bidirectional, True)
            return (y, *states)
        lengths = mask.sum(dim=1).cpu()  # right padding: checked in check_recurrent_inputs
        # Packed sequences refuse empty ones: an all-False row runs one step here, on a zeroed input (so
        # that a NaN or inf there reaches no gradient), then gets zero outputs and its initial states back,
        # as on the other paths. The packed sequence reads no other padded step.
        empty = bool((lengths == 0).any())
        if empty:
            x = torch.where(mask.any(dim=1)[:, None, None], x, torch.zeros((), dtype=x.dtype, device=x.device))
        packed = pack_padded_sequence(x, lengths.clamp(min=1), batch_first=True, enforce_sorted=False)
        # The packed batch is sorted by length: the states go in in that order and come back in the caller's.
        order, unorder = packed.sorted_indices, packed.unsorted_indices
        assert order is not None and unorder is not None  # enforce_sorted=False sets both
        sorted_hx = [h if h is zeros else h.index_select(1, order) for h in hx]  # zeros need no sorting
        y, *states = self.kernel(
            packed.data, packed.batch_sizes, _hx(sorted_hx), weights, True, c.num_layers, *dropout, c.bidirectional
        )
        states = [s.index_select(1, unorder) for s in states]
        # A new PackedSequence, as nn.LSTM builds one: `packed._replace(data=y)` fails under torch.compile
        # (the resumed frame sees a 0-d batch_sizes: pad_packed_sequence raises an IndexError).
        y, _ = pad_packed_sequence(PackedSequence(y, *packed[1:]), batch_first=True, total_length=T)  # (B, T, D H)
        if empty:
            valid = (lengths > 0).to(x.device)  # (B,)
            y = torch.where(valid[:, None, None], y, torch.zeros_like(y))
            states = [torch.where(valid[None, :, None], s, s_0) for s, s_0 in zip(states, hx, strict=True)]
        return (y, *states)


def _hx(states: list) -> torch.Tensor | list:
    """The kernel's initial state argument: the LSTM's takes (h, c), the others h alone."""
    return states if len(states) == 2 else states[0]


class RNN(_Recurrent):
    r"""Elman RNN, stacked and optionally bidirectional, over a padded batch (torch's ``nn.RNN``).

    .. math::
        h_t^{(l)} = \mathrm{act}(x_t^{(l)} W_{ih}^{(l)} + h_{t-1}^{(l)} W_{hh}^{(l)} + b^{(l)})

    where x_t^{(0)} = x_t and x_t^{(l)} = dropout([h_t^{(l-1)}; \overleftarrow{h}_t^{(l-1)}]) for l > 0
    (dropout in training only: Keras ``training=True``, torch ``.train()``). B = batch, T = steps, D = ``input_size``, H = ``hidden_size``,
    L = ``num_layers``, num_directions = 2 if ``bidirectional`` else 1.

    Args:
        config: ``RNNConfig``; ``path`` picks the explicit loop or torch's ``nn.RNN`` kernel.
        dtype: "float32", "float64", "bfloat16" or "float16" (16 bits: the explicit path; precision: the
            module docstring).

    Call arguments:
        x: (B, T, D) float.
        mask: optional bool (B, T), True = valid step (right padding).
        h_0: optional (L * num_directions, B, H), zeros if absent.

    Returns:
        output (B, T, num_directions * H), zero past each length; h_n (L * num_directions, B, H).
    """

    kind = "rnn"

    def __init__(self, config: RNNConfig, dtype: str = "float32"):
        super().__init__(config, dtype=dtype)

    def make_cell(self, input_size: int, dtype: str) -> RNNCell:
        return RNNCell(input_size, self.config.hidden_size, self.config.activation, dtype=dtype)

    def make_kernel(self) -> Callable:
        return torch.rnn_tanh if self.config.activation == "tanh" else torch.rnn_relu  # what nn.RNN calls

    def forward(self, x, mask=None, h_0=None, return_intermediates=False):
        return self.run(x, mask, h_0, None, return_intermediates)


class LSTM(_Recurrent):
    r"""LSTM, stacked and optionally bidirectional, over a padded batch (torch's ``nn.LSTM``).

    .. math::
        (h_t^{(l)}, c_t^{(l)}) = \mathrm{LSTMCell}^{(l)}(x_t^{(l)}, (h_{t-1}^{(l)}, c_{t-1}^{(l)}))

    where the cell is ``LSTMCell`` and x_t^{(l)} as in ``RNN``. Letters as in ``RNN``.

    Args:
        config: ``LSTMConfig``; ``path`` picks the explicit loop or torch's ``nn.LSTM`` kernel.
        dtype: "float32", "float64", "bfloat16" or "float16" (16 bits: the explicit path; precision: the
            module docstring).

    Call arguments:
        x: (B, T, D) float.
        mask: optional bool (B, T), True = valid step (right padding).
        h_0, c_0: optional (L * num_directions, B, H), zeros if absent.

    Returns:
        output (B, T, num_directions * H), zero past each length; h_n, c_n (L * num_directions, B, H).
    """

    kind = "lstm"

    def __init__(self, config: LSTMConfig, dtype: str = "float32"):
        super().__init__(config, dtype=dtype)

    def make_cell(self, input_size: int, dtype: str) -> LSTMCell:
        return LSTMCell(input_size, self.config.hidden_size, dtype=dtype)

    def make_kernel(self) -> Callable:
        return torch.lstm  # what nn.LSTM calls

    def forward(self, x, mask=None, h_0=None, c_0=None, return_intermediates=False):
        return self.run(x, mask, h_0, c_0, return_intermediates)


class GRU(_Recurrent):
    r"""GRU, stacked and optionally bidirectional, over a padded batch (torch's ``nn.GRU``).

    .. math::
        h_t^{(l)} = \mathrm{GRUCell}^{(l)}(x_t^{(l)}, h_{t-1}^{(l)})

    where the cell is ``GRUCell`` (gates z, r, n; reset after the recurrent matmul) and x_t^{(l)} as
    in ``RNN``. Letters as in ``RNN``.

    Args:
        config: ``GRUConfig``; ``path`` picks the explicit loop or torch's ``nn.GRU`` kernel.
        dtype: "float32", "float64", "bfloat16" or "float16" (16 bits: the explicit path; precision: the
            module docstring).

    Call arguments:
        x: (B, T, D) float.
        mask: optional bool (B, T), True = valid step (right padding).
        h_0: optional (L * num_directions, B, H), zeros if absent.

    Returns:
        output (B, T, num_directions * H), zero past each length; h_n (L * num_directions, B, H).
    """

    kind = "gru"

    def __init__(self, config: GRUConfig, dtype: str = "float32"):
        super().__init__(config, dtype=dtype)

    def make_cell(self, input_size: int, dtype: str) -> GRUCell:
        return GRUCell(input_size, self.config.hidden_size, dtype=dtype)

    def make_kernel(self) -> Callable:
        return torch.gru  # what nn.GRU calls

    def forward(self, x, mask=None, h_0=None, return_intermediates=False):
        return self.run(x, mask, h_0, None, return_intermediates)


class RNNClassifier(Twin):
    r"""The seed article's ``RNN`` (§5.2.2), working: an Elman RNN, a linear layer on the last valid step.

    .. math::
        y = h_{T_b} W_y + b_y

    where h_{T_b} is the RNN's hidden state at sequence b's last valid step (its ``h_n``). B = batch,
    T = steps, D = ``input_size``, H = ``hidden_size``, O = ``output_size``.

    Departs from the seed: the seed feeds a 2-D integer tensor ``[[1, 2, 3]]`` to ``nn.RNN(3, 10)``
    with an ``h0`` of batch 1 and reads ``output[-1]``, so it does not run as printed (nn.RNN needs
    a float input of D features; ``output[-1]`` with the default seq-first layout would be the last
    step of every sequence, padding included). Here the input is a float (B, T, D) batch with a
    padding mask, and the linear layer reads the state at each sequence's last valid step.

    Args:
        config: ``RNNClassifierConfig``.
        dtype: "float32", "float64", "bfloat16" or "float16" (16 bits: the explicit path; precision: the
            module docstring).

    Call arguments:
        x: (B, T, D) float.
        mask: optional bool (B, T), True = valid step (right padding).

    Returns:
        logits (B, O).
    """

    def __init__(self, config: RNNClassifierConfig, dtype: str = "float32"):
        super().__init__(dtype=dtype)
        self.config = c = config
        self.rnn = RNN(rnn_of(c), dtype=dtype)
        self.W_y = weight((c.hidden_size, c.output_size), dtype)
        self.b_y = weight((c.output_size,), dtype, "zeros")

    def forward(self, x, mask=None, return_intermediates=False):
        (_, h_n), m = self.rnn(x, mask=mask, return_intermediates=True)
        logits = matmul(h_n[-1], self.W_y, self.b_y)  # (B, O)
        mids = {f"rnn.{n}": v for n, v in m.items()}
        return ((logits,), mids) if return_intermediates else (logits,)


class LSTMLanguageModel(Twin):
    r"""The second seed article's ``TextGenerator``: embedding, stacked LSTM with dropout, vocabulary logits.

    .. math::
        e_t = E[w_t], \quad h_t = \mathrm{LSTM}(e_t, h_{t-1}), \quad \mathrm{logits}_t = h_t W_y + b_y

    where the LSTM has ``num_layers`` layers with dropout between them (training only). B = batch,
    T = steps, V = ``vocab_size``, E = ``embed_dim``, H = ``hidden_size``.

    Departs from the seed: its ``hidden`` is passed in before it is defined and its loss compares
    (B T, V) logits with (B,) labels; here the forward takes token ids and a padding mask and
    returns per-step logits (zero LSTM output, hence logits b_y, past each length).

    Args:
        config: ``LSTMLanguageModelConfig``.
        dtype: "float32", "float64", "bfloat16" or "float16" (16 bits: the explicit path; precision: the
            module docstring).

    Call arguments:
        tokens: (B, T) int32 or int64.
        mask: optional bool (B, T), True = valid step (right padding).

    Returns:
        logits (B, T, V).
    """

    def __init__(self, config: LSTMLanguageModelConfig, dtype: str = "float32"):
        super().__init__(dtype=dtype)
        self.config = c = config
        self.E = weight((c.vocab_size, c.embed_dim), dtype)
        self.lstm = LSTM(lstm_of(c), dtype=dtype)
        self.W_y = weight((c.hidden_size, c.vocab_size), dtype)
        self.b_y = weight((c.vocab_size,), dtype, "zeros")
        self.train(False)  # as the LSTM: inference until .train()

    def forward(self, tokens, mask=None, return_intermediates=False):
        check_tensors(tokens=tokens, mask=mask)
        check_tokens(self.config, tokens, mask, known_values)
        # Rows of an upcast copy, back in E's dtype (exact): E's gradient summed in float32 (the module docstring).
        embedded = embed(upcast(self.E), tokens).to(self.E.dtype)  # (B, T, E)
        (output, _, _), m = self.lstm(embedded, mask=mask, return_intermediates=True)
        logits = matmul(output, self.W_y, self.b_y)  # (B, T, V)
        mids = {"embedded": embedded, **{f"lstm.{n}": v for n, v in m.items()}}
        return ((logits,), mids) if return_intermediates else (logits,)

    def sample(self, logits, temperature: float, uniforms=None):
        """Next tokens (B,) int64 from logits (B, V): greedy if temperature == 0, else inverse-CDF sampling.

        ``uniforms`` (B,) in [0, 1), drawn by the caller (NumPy), make the draw the same in both twins:
        token = the first v with cdf_v > u, cdf of softmax(logits / temperature), computed in float64.
        """
        check_sample(logits, temperature, uniforms)
        logits = logits.to(torch.float64)
        if temperature == 0:
            return torch.argmax(logits, dim=-1)
        cdf = torch.cumsum(torch.softmax(logits / temperature, dim=-1), dim=-1)  # (B, V)
        u = torch.as_tensor(uniforms, dtype=torch.float64, device=logits.device)[:, None]  # (B, 1)
        below = torch.sum((cdf <= u).to(torch.int64), dim=-1)
        return torch.clamp(below, max=logits.shape[-1] - 1)


class Seq2SeqAttention(Twin):
    r"""The seed's translation example made real: GRU encoder, GRU decoder with Bahdanau attention.

    .. math::
        \begin{aligned}
        (v_{1..S}, s_0) &= \mathrm{GRU}_{enc}(E_{src}[x_{1..S}]) \\
        (c_t, \alpha_t) &= \mathrm{Attention}(s_{t-1}, v_{1..S}) \\
        s_t &= \mathrm{GRUCell}_{dec}([E_{tgt}[y_t]; c_t], s_{t-1}), \quad
        \mathrm{logits}_t = s_t W_y + b_y
        \end{aligned}

    where Attention is ``AdditiveAttention`` over the valid source steps, s_0 is the encoder's state
    at each source's last valid step, and y_t is the decoder's input at step t: the given target
    token (teacher forcing) or, in ``greedy_decode``, the previous step's argmax. B = batch,
    S = source steps, T = target steps, V_s/V_t = vocabularies, E = ``embed_dim``,
    H = ``hidden_size``, U = ``attention_units``.

    Args:
        config: ``Seq2SeqAttentionConfig``.
        dtype: "float32", "float64", "bfloat16" or "float16" (16 bits: the explicit path; precision: the
            module docstring).

    Call arguments:
        source: (B, S) int token ids. source_mask: optional bool (B, S), True = valid step.
        target: (B, T) int token ids, the decoder's inputs (the caller shifts them, BOS first).

    Returns:
        logits (B, T, V_t), attention_weights (B, T, S).
    """

    def __init__(self, config: Seq2SeqAttentionConfig, dtype: str = "float32"):
        super().__init__(dtype=dtype)
        self.config = c = config
        self.E_source = weight((c.source_vocab_size, c.embed_dim), dtype)
        self.encoder = GRU(encoder_of(c), dtype=dtype)
        self.E_target = weight((c.target_vocab_size, c.embed_dim), dtype)
        self.attention = AdditiveAttention(attention_of(c), dtype=dtype)
        self.decoder = GRUCell(c.embed_dim + c.hidden_size, c.hidden_size, dtype=dtype)
        self.W_y = weight((c.hidden_size, c.target_vocab_size), dtype)
        self.b_y = weight((c.target_vocab_size,), dtype, "zeros")
        self.train(False)  # as the encoder: inference until .train()

    def encode(self, source, source_mask):
        """Encoder outputs (B, S, H), zero past each length, and the decoder's initial state (B, H)."""
        # Rows of an upcast copy, back in the dtype (exact): the gradient summed in float32 (the module docstring).
        embedded = embed(upcast(self.E_source), source).to(self.E_source.dtype)  # (B, S, E)
        (values, h_n), m = self.encoder(embedded, mask=source_mask, return_intermediates=True)
        return values, h_n[-1], m

    def upcast_weights(self):
        """What every decoder step reads, upcast once per forward (the module docstring): E_target, the
        decoder cell's weights, W_y, b_y."""
        return upcast(self.E_target), self.decoder.upcast_weights(), upcast(self.W_y), upcast(self.b_y)

    def step(self, y_t, s_tm1, values, source_mask, step_weights):
        """One decoder step: the token y_t (B,) and state s_tm1 (B, H) to logits (B, V_t) and s_t; ``step_weights``
        is ``upcast_weights()``, made once per forward."""
        E_target, decoder_weights, W_y, b_y = step_weights
        e_t = embed(E_target, y_t).to(self.E_target.dtype)  # (B, E)
        context, alpha = self.attention(s_tm1, values, mask=source_mask)  # (B, H), (B, S)
        (s_t,), m = self.decoder(torch.cat([e_t, context], dim=-1), (s_tm1,), decoder_weights)
        logits_t = matmul(s_t, W_y, b_y)  # (B, V_t)
        return s_t, logits_t, alpha, {"context": context, **{f"decoder.{n}": v for n, v in m.items()}}

    def forward(self, source, source_mask, target, return_intermediates=False):
        check_tensors(source=source, source_mask=source_mask, target=target)
        check_seq2seq(self.config, source, source_mask, target, known_values)
        values, s_t, encoder_mids = self.encode(source, source_mask)
        step_weights = self.upcast_weights()
        logits, alphas, steps = [], [], []
        for t in range(target.shape[1]):
            s_t, logits_t, alpha, m = self.step(target[:, t], s_t, values, source_mask, step_weights)
            logits.append(logits_t)
            alphas.append(alpha)
            steps.append(m)
        outputs = (torch.stack(logits, dim=1), torch.stack(alphas, dim=1))  # (B, T, V_t), (B, T, S)
        mids = {
            **{f"encoder.{n}": v for n, v in encoder_mids.items()},
            **{n: torch.stack([m[n] for m in steps], dim=1) for n in steps[0]},
        }
        return (outputs, mids) if return_intermediates else outputs

    def greedy_decode(self, source, source_mask, bos: int, steps: int):
        """Greedy decoding from the token ``bos``: tokens (B, steps) int64 and attention_weights (B, steps, S)."""
        check_tensors(source=source, source_mask=source_mask)
        check_seq2seq(self.config, source, source_mask, None, known_values)
        check_greedy(self.config, bos, steps)
        values, s_t, _ = self.encode(source, source_mask)
        step_weights = self.upcast_weights()
        y_t = torch.full((source.shape[0],), bos, dtype=torch.int64, device=source.device)
        tokens, alphas = [], []
        for _ in range(steps):
            s_t, logits_t, alpha, _ = self.step(y_t, s_t, values, source_mask, step_weights)
            y_t = torch.argmax(logits_t, dim=-1)
            tokens.append(y_t)
            alphas.append(alpha)
        return torch.stack(tokens, dim=1), torch.stack(alphas, dim=1)
