"""Converters between twinmem's canonical weights and the frameworks' own built-in layers.

The one place in ``twinmem/`` that imports both frameworks (lazily, per function). Each converter
says which framework layout it maps to. Masks: twinmem's True = attend; torch's
``key_padding_mask`` and boolean ``attn_mask`` of ``nn.MultiheadAttention`` mean True = *ignore*,
so callers flip them (``~mask``) and the built-in wrappers below do so.

Two families of converters live here:

* canonical weights of a registry model (``rnn``, ``lstm``, ``gru``, ``multi_head_attention``) <->
  a built-in layer: ``canonical_to_torch``, ``canonical_to_keras`` (and ``recurrent_builtin``, ``mha_to_torch``,
  ``mha_to_keras`` for the benchmarks), ``torch_to_canonical``, ``keras_to_canonical``. The canonical
  recurrent cell *is* Keras' [kernel, recurrent_kernel, bias] (``twinmem.layouts.recurrent``), so the Keras
  side assigns it as it is and the torch side goes through the layouts below;
* a built-in layer of one framework -> the same built-in layer of the other, carrying the same
  weights: ``torch_to_keras`` and ``keras_to_torch``, for ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``
  <-> ``SimpleRNN`` / ``LSTM`` / ``GRU`` (bidirectional -> ``Bidirectional(merge_mode="concat")``,
  several layers -> a ``keras.Sequential``), ``nn.MultiheadAttention`` <-> ``MultiHeadAttention``,
  ``nn.Linear`` <-> ``Dense`` and ``nn.Embedding`` <-> ``Embedding``. An option the other side
  cannot express is refused with a ValueError naming it; nothing is converted approximately.

Layouts, torch -> Keras (one direction d of one layer k; torch's suffix ``_l{k}`` or
``_l{k}_reverse``, H the hidden size):

* torch ``weight_ih`` is (G H, H_in) and ``weight_hh`` (G H, H), out x in; Keras' ``kernel`` is
  (H_in, G H) and ``recurrent_kernel`` (H, G H), in x out: a transpose.
* LSTM gates: torch ``i|f|g|o``, Keras ``i|f|c|o``: the same order. SimpleRNN: one block.
* GRU gates: torch ``r|z|n``, Keras (``reset_after=True``) ``z|r|h``: the first two blocks swap.
  Both apply the reset gate to the recurrent product *with* its bias,
  ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, and both mix ``h' = (1 - z) n + z h``.
* Biases: torch has ``b_ih`` and ``b_hh``. SimpleRNN and LSTM have one bias, which is their sum
  (going back: the Keras bias into ``b_ih``, zeros into ``b_hh``). Keras' GRU bias is (2, 3 H) =
  [input bias; recurrent bias], the two torch biases with their gates reordered.

Dropout acts only in training and draws its masks differently in the two frameworks, so training
with dropout is not the same function on the two sides; the converted layer agrees with the original
in inference. Recurrent dropout (torch's between layers, Keras' ``dropout`` / ``recurrent_dropout``)
is not carried over, as the two mean different things; the attention dropout rate of
``MultiheadAttention`` / ``MultiHeadAttention`` (on the attention weights in both) is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

# torch's RNNBase.mode -> our kind; the kind names the Keras class.
_TORCH_MODES = {"RNN_TANH": "rnn", "RNN_RELU": "rnn", "LSTM": "lstm", "GRU": "gru"}
_KERAS_CLASSES = {"rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
_TORCH_CLASSES = {"rnn": "nn.RNN", "lstm": "nn.LSTM", "gru": "nn.GRU"}


def mha_to_torch(weights: Mapping[str, np.ndarray], config, dtype: str = "float32"):
    """Canonical multi-head attention -> ``torch.nn.MultiheadAttention(batch_first=True)``.

    torch stores ``in_proj_weight`` as (3 D, D) = [W_q^T; W_k^T; W_v^T] (out, in) and
    ``out_proj.weight`` as W_o^T; it needs H d_h == D.
    """
    import torch

    _need_square_heads(config)
    # Made in the dtype itself: float32 first and .to(float64) after would round the weights on the way.
    mha = torch.nn.MultiheadAttention(
        config.d_model, config.num_heads, bias=True, batch_first=True, dtype=getattr(torch, dtype)
    )
    t = {n: torch.as_tensor(np.asarray(w, dtype=dtype)) for n, w in weights.items()}
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([t["W_q"].T, t["W_k"].T, t["W_v"].T]))
        mha.in_proj_bias.copy_(torch.cat([t["b_q"], t["b_k"], t["b_v"]]))
        mha.out_proj.weight.copy_(t["W_o"].T)
        mha.out_proj.bias.copy_(t["b_o"])
    return mha


def mha_to_keras(weights: Mapping[str, np.ndarray], config, dtype: str = "float32", name: str | None = None):
    """Canonical multi-head attention -> ``keras.layers.MultiHeadAttention``.

    Keras stores the projections per head: query/key/value kernels (D, H, d_h) with biases (H, d_h),
    the output kernel (H, d_h, D); head h is columns [h d_h, (h+1) d_h) of the canonical W_q.
    ``name`` names the layer (None: Keras chooses).
    """
    import keras

    c = config
    mha = keras.layers.MultiHeadAttention(c.num_heads, c.head_dim, use_bias=True, name=name, dtype=dtype)
    mha.build((1, 1, c.d_model), (1, 1, c.d_model), (1, 1, c.d_model))
    w = {n: np.asarray(v, dtype=dtype) for n, v in weights.items()}
    H, d_h, D = c.num_heads, c.head_dim, c.d_model
    for dense, name in ((mha.query_dense, "q"), (mha.key_dense, "k"), (mha.value_dense, "v")):
        dense.kernel.assign(w[f"W_{name}"].reshape(D, H, d_h))
        dense.bias.assign(w[f"b_{name}"].reshape(H, d_h))
    mha.output_dense.kernel.assign(w["W_o"].reshape(H, d_h, D))
    mha.output_dense.bias.assign(w["b_o"])
    return mha


def _need_square_heads(config) -> None:
    if config.num_heads * config.head_dim != config.d_model:
        raise ValueError(
            "torch.nn.MultiheadAttention needs num_heads * head_dim == d_model. "
            f"Received: {config.num_heads} * {config.head_dim} != {config.d_model}"
        )


# ---------------------------------------------------------------------------------------------
# torch -> Keras


def torch_to_keras(module, name: str | None = None):
    """A new Keras layer computing what the torch ``module`` computes, with the same weights.

    Args:
        module: an ``nn.RNN`` (tanh or relu), ``nn.LSTM``, ``nn.GRU``, ``nn.MultiheadAttention``,
            ``nn.Linear`` or ``nn.Embedding``. Its dtype (float32 or float64) is kept.
        name: the Keras layer's name; sub-layers are named after it (``{name}_l{k}`` for layer k
            of a stack, ``bidirectional_...`` for the wrapper), so the variable paths are fixed.
            None lets Keras choose unique names.

    Returns:
        Recurrent modules: a Keras layer taking x (N, L, H_in) **batch-major whatever the
        module's ``batch_first``** (for ``batch_first=False`` transpose torch's (L, N, H_in)
        input first) and returning torch's ``output``, the whole sequence (N, L, D H), batch-major
        (``return_sequences=True``). It is the ``SimpleRNN`` / ``LSTM`` / ``GRU`` itself when
        ``num_layers == 1``, wrapped in ``Bidirectional(merge_mode="concat")`` (forward half
        first, as torch) when bidirectional, and a ``keras.Sequential`` of those when
        ``num_layers > 1``. The final states, torch's ``h_n`` (and ``c_n``), come from
        ``keras_call_like_torch(layer, x)``, which returns ``(output, h_n)`` or
        ``(output, (h_n, c_n))`` in torch's layout.

        ``nn.MultiheadAttention``: a ``MultiHeadAttention`` called as
        ``layer(query, value, key, attention_mask=...)`` (note Keras' argument order) with
        batch-major (N, L, E) tensors whatever ``batch_first``; it returns torch's first output,
        ``attn_output``. torch's ``key_padding_mask`` (True = ignore) becomes Keras'
        ``attention_mask = ~key_padding_mask[:, None, :]`` broadcast to (N, L, S), True = attend.

        ``nn.Linear``: a ``Dense`` with no activation; ``nn.Embedding``: an ``Embedding``.

    Raises:
        ValueError: for an option Keras cannot express (``proj_size > 0``, ``max_norm``,
            ``add_bias_kv``, ``add_zero_attn``), naming it.
        TypeError: for a module of another type.
    """
    import torch

    if isinstance(module, torch.nn.RNNBase):
        return _rnn_torch_to_keras(module, name)
    if isinstance(module, torch.nn.MultiheadAttention):
        return _mha_torch_to_keras(module, name)
    if isinstance(module, torch.nn.Linear):
        return _linear_torch_to_keras(module, name)
    if isinstance(module, torch.nn.Embedding):
        return _embedding_torch_to_keras(module, name)
    raise TypeError(
        "torch_to_keras converts nn.RNN, nn.LSTM, nn.GRU, nn.MultiheadAttention, nn.Linear and "
        f"nn.Embedding. Received: {type(module).__name__}"
    )


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy()


def _keras_dtype(module) -> str:
    import torch

    dtype = next(module.parameters()).dtype
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"Converters carry float32 or float64 weights. Received: {dtype}")
    return str(dtype).removeprefix("torch.")


def _swap_gru_gates(a: np.ndarray, axis: int) -> np.ndarray:
    """torch's GRU blocks r|z|n <-> Keras' z|r|h: the first two swap (its own inverse)."""
    first, second, third = np.split(a, 3, axis=axis)
    return np.concatenate([second, first, third], axis=axis)


def _rnn_torch_to_keras(module, name: str | None):
    kind = _TORCH_MODES.get(module.mode)
    if kind is None:
        raise ValueError(f"torch_to_keras converts RNN_TANH, RNN_RELU, LSTM and GRU. Received: mode={module.mode!r}")
    if getattr(module, "proj_size", 0) > 0:
        raise ValueError(
            "proj_size > 0 (an LSTM with projections) cannot be converted: Keras' LSTM has no "
            f"projection of the hidden state. Received: proj_size={module.proj_size}"
        )
    D = 2 if module.bidirectional else 1
    activation = "relu" if module.mode == "RNN_RELU" else "tanh"
    out, cells = _keras_recurrent_stack(
        kind,
        module.input_size,
        module.hidden_size,
        module.num_layers,
        module.bidirectional,
        module.bias,
        activation,
        _keras_dtype(module),
        name,
    )
    for k, cell in enumerate(cells):
        suffix = f"_l{k // D}" + ("_reverse" if k % D else "")
        p = {n: _np(getattr(module, f"{n}{suffix}")) for n in ("weight_ih", "weight_hh")}
        if module.bias:
            p.update({n: _np(getattr(module, f"{n}{suffix}")) for n in ("bias_ih", "bias_hh")})
        for variable, value in zip(_cell_variables(cell), _torch_to_keras_cell(kind, p), strict=True):
            variable.assign(value)
    return out


def _keras_recurrent_stack(
    kind: str,
    input_size: int,
    hidden_size: int,
    num_layers: int,
    bidirectional: bool,
    use_bias: bool,
    activation: str,
    dtype: str,
    name: str | None,
) -> tuple[Any, list]:
    """A built Keras stack returning sequences, and its cells in torch's (and the canonical) order.

    Cell k is layer k // D, direction k % D. Names as ``torch_to_keras`` documents them.
    """
    import keras

    D = 2 if bidirectional else 1
    # zero_output_for_mask: Keras 3 defaults to False, repeating the last valid output over the padded
    # steps of a masked call; torch's pad_packed_sequence (and the twins) give zeros there.
    options: dict[str, Any] = {"use_bias": use_bias, "return_sequences": True, "zero_output_for_mask": True}
    options["dtype"] = dtype
    if kind == "rnn":
        options["activation"] = activation
    if kind == "gru":
        options["reset_after"] = True  # torch applies the reset gate after the recurrent matmul
    layer_class = getattr(keras.layers, _KERAS_CLASSES[kind])

    def sub_name(k: int) -> str | None:
        if name is None:
            return None
        return name if num_layers == 1 else f"{name}_l{k}"

    stack = []
    for k in range(num_layers):
        layer = layer_class(hidden_size, name=sub_name(k), **options)
        if D == 2:
            wrapper_name = None if name is None else f"bidirectional_{sub_name(k)}"
            layer = keras.layers.Bidirectional(layer, merge_mode="concat", name=wrapper_name, dtype=dtype)
        stack.append(layer)
    out = stack[0] if num_layers == 1 else keras.Sequential(stack, name=name)
    out.build((None, None, input_size))
    cells = []
    for layer in stack:
        cells += [layer.forward_layer.cell, layer.backward_layer.cell] if D == 2 else [layer.cell]
    return out, cells


def _cell_variables(cell) -> list:
    return [cell.kernel, cell.recurrent_kernel] + ([cell.bias] if cell.use_bias else [])


def _torch_to_keras_cell(kind: str, p: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """One direction of one layer: torch's (out, in) matrices -> Keras' [kernel, recurrent_kernel, bias]."""
    kernel, recurrent_kernel = p["weight_ih"].T, p["weight_hh"].T  # (H_in, G H), (H, G H)
    if kind == "gru":
        kernel, recurrent_kernel = _swap_gru_gates(kernel, 1), _swap_gru_gates(recurrent_kernel, 1)
    out = [kernel, recurrent_kernel]
    if "bias_ih" in p:
        if kind == "gru":  # (2, 3 H): b_hn stays inside the reset product, so the two cannot be summed
            out.append(np.stack([_swap_gru_gates(p["bias_ih"], 0), _swap_gru_gates(p["bias_hh"], 0)]))
        else:
            out.append(p["bias_ih"] + p["bias_hh"])
    return out


def _mha_torch_to_keras(module, name: str | None):
    import keras

    for option in ("bias_k", "bias_v"):
        if getattr(module, option) is not None:
            raise ValueError(
                "add_bias_kv=True cannot be converted: Keras' MultiHeadAttention has no learned key/value "
                "appended to the sequence. Received: add_bias_kv=True"
            )
    if module.add_zero_attn:
        raise ValueError(
            "add_zero_attn=True cannot be converted: Keras' MultiHeadAttention appends no zero key/value. "
            "Received: add_zero_attn=True"
        )
    E, H = module.embed_dim, module.num_heads
    d = E // H
    has_bias = module.out_proj.bias is not None
    dtype = _keras_dtype(module)
    mha = keras.layers.MultiHeadAttention(
        H, d, value_dim=d, dropout=module.dropout, use_bias=has_bias, name=name, dtype=dtype
    )
    mha.build((None, None, E), (None, None, module.vdim), (None, None, module.kdim))
    if module._qkv_same_embed_dim:
        W_q, W_k, W_v = np.split(_np(module.in_proj_weight), 3)  # each (E, E_in), out x in
    else:
        W_q, W_k, W_v = (_np(getattr(module, f"{n}_proj_weight")) for n in "qkv")
    denses = (mha.query_dense, mha.key_dense, mha.value_dense)
    for dense, W in zip(denses, (W_q, W_k, W_v), strict=True):
        dense.kernel.assign(W.T.reshape(-1, H, d))  # (E_in, H, d_h): head h is columns [h d_h, (h+1) d_h)
    mha.output_dense.kernel.assign(_np(module.out_proj.weight).T.reshape(H, d, E))
    if has_bias:
        for dense, b in zip(denses, np.split(_np(module.in_proj_bias), 3), strict=True):
            dense.bias.assign(b.reshape(H, d))
        mha.output_dense.bias.assign(_np(module.out_proj.bias))
    return mha


def _linear_torch_to_keras(module, name: str | None):
    import keras

    has_bias = module.bias is not None
    dense = keras.layers.Dense(module.out_features, use_bias=has_bias, name=name, dtype=_keras_dtype(module))
    dense.build((None, module.in_features))
    dense.kernel.assign(_np(module.weight).T)  # torch (out, in) -> Keras (in, out)
    if has_bias:
        dense.bias.assign(_np(module.bias))
    return dense


def _embedding_torch_to_keras(module, name: str | None):
    """``padding_idx``, ``scale_grad_by_freq`` and ``sparse`` change only the gradient: carried as is."""
    import keras

    if module.max_norm is not None:
        raise ValueError(
            "max_norm cannot be converted: torch renormalizes the looked-up rows in the forward pass, "
            f"Keras' Embedding never does. Received: max_norm={module.max_norm}"
        )
    emb = keras.layers.Embedding(module.num_embeddings, module.embedding_dim, name=name, dtype=_keras_dtype(module))
    emb.build()
    emb.embeddings.assign(_np(module.weight))
    return emb


def keras_call_like_torch(layer, x) -> tuple:
    """Run a Keras recurrent layer and return what torch's recurrent module returns.

    Works on what ``torch_to_keras`` makes from ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` (and on any
    layer ``keras_to_torch`` accepts, as long as every layer returns sequences).

    Args:
        layer: a ``SimpleRNN`` / ``LSTM`` / ``GRU``, a ``Bidirectional`` of one, or a
            ``keras.Sequential`` of those.
        x: (N, L, H_in), batch-major.

    Returns:
        ``(output, h_n)`` for SimpleRNN / GRU and ``(output, (h_n, c_n))`` for LSTM, where
        output is (N, L, D H) and h_n, c_n are (num_layers D, N, H), layer-major then direction
        (forward, backward), as torch's.
    """
    import keras

    stack = layer.layers if isinstance(layer, keras.Sequential) else [layer]
    h, c = [], []
    for sub in stack:
        rnns = [sub, sub.forward_layer, sub.backward_layer] if hasattr(sub, "forward_layer") else [sub]
        saved = [r.return_state for r in rnns]
        # Keras returns the states only when asked at construction; Sequential passes one tensor on, so
        # the stack is run here layer by layer with return_state switched on for the call alone.
        try:
            for r in rnns:
                r.return_state = True
            x, *states = sub(x)
        finally:
            for r, s in zip(rnns, saved, strict=True):
                r.return_state = s
        per_direction = len(states) // (2 if len(rnns) == 3 else 1)  # Bidirectional: forward states, then backward
        for d in range(0, len(states), per_direction):
            h.append(states[d])
            if per_direction == 2:
                c.append(states[d + 1])
    h_n = keras.ops.stack(h)
    return (x, (h_n, keras.ops.stack(c))) if c else (x, h_n)


# ---------------------------------------------------------------------------------------------
# Keras -> torch


def keras_to_torch(layer):
    """A new torch module computing what the built Keras ``layer`` computes, with the same weights.

    Args:
        layer: a built ``SimpleRNN`` (tanh or relu), ``LSTM`` or ``GRU`` (``reset_after=True``), a
            ``Bidirectional(merge_mode="concat")`` of one, a ``keras.Sequential`` stack of those
            (all the same kind, units, ``use_bias`` and directionality: torch's ``num_layers``),
            a ``MultiHeadAttention``, a ``Dense`` without activation, or an ``Embedding``. Its
            dtype (float32 or float64) is kept.

    Returns:
        Recurrent layers: an ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` with ``batch_first=True`` (Keras
        is batch-major), called ``output, h_n = module(x)`` (LSTM: ``output, (h_n, c_n)``) with
        x (N, L, H_in). If the (last) Keras layer returns sequences, its output is torch's
        ``output`` (N, L, D H). If it does not, its output is the final hidden state,
        ``torch.cat(list(h_n[-D:]), -1)`` (N, D H) (for a Bidirectional: the backward half is its
        state after reading the whole sequence backwards, as torch's). With ``return_state=True``
        Keras' states are, in order, ``h_n[-D]``, (``c_n[-D]``,) and for a Bidirectional
        ``h_n[-1]``, (``c_n[-1]``). Keras masks (``mask=``) have no torch counterpart here:
        torch handles variable lengths with packed sequences.

        ``MultiHeadAttention``: an ``nn.MultiheadAttention(batch_first=True)`` called as
        ``module(query, key, value, key_padding_mask=~mask)`` (note torch's argument order), whose
        first output ``attn_output`` is Keras' output. Keras' ``attention_mask`` (N, L, S),
        True = attend, is torch's boolean ``attn_mask`` flipped, ``~attention_mask`` repeated
        per head to (N H, L, S); a key-padding mask (N, S) True = attend is
        ``key_padding_mask=~mask``.

        ``Dense``: an ``nn.Linear``; ``Embedding``: an ``nn.Embedding``.

    Raises:
        ValueError: for an option torch cannot express, naming it (``go_backwards=True``,
            ``stateful=True``, an activation other than tanh / relu, a recurrent activation other
            than sigmoid, ``reset_after=False``, layers of a stack that differ, a merge mode other
            than concat, ``key_dim != value_dim``, ``output_shape``, ...), or for a layer not built.
        TypeError: for a layer of another type.
    """
    import keras

    if isinstance(layer, keras.Sequential) or isinstance(
        layer, (keras.layers.SimpleRNN, keras.layers.LSTM, keras.layers.GRU, keras.layers.Bidirectional)
    ):
        return _rnn_keras_to_torch(layer)
    if isinstance(layer, keras.layers.MultiHeadAttention):
        return _mha_keras_to_torch(layer)
    if isinstance(layer, keras.layers.Dense):
        return _dense_keras_to_torch(layer)
    if isinstance(layer, keras.layers.Embedding):
        return _embedding_keras_to_torch(layer)
    raise TypeError(
        "keras_to_torch converts SimpleRNN, LSTM, GRU, Bidirectional, a Sequential of them, "
        f"MultiHeadAttention, Dense and Embedding. Received: {type(layer).__name__}"
    )


def _torch_dtype(layer):
    import torch

    if layer.dtype not in ("float32", "float64"):
        raise ValueError(f"Converters carry float32 or float64 weights. Received: dtype={layer.dtype!r}")
    return getattr(torch, layer.dtype)


def _need_built(layer) -> None:
    if not layer.built:
        raise ValueError(
            f"Layer {layer.name!r} is not built, so it has no weights yet: call it once or call "
            "layer.build(input_shape) first"
        )


def _keras_kind(rnn) -> str:
    import keras

    for kind, class_name in _KERAS_CLASSES.items():
        if type(rnn) is getattr(keras.layers, class_name):
            return kind
    raise TypeError(f"Expected a SimpleRNN, LSTM or GRU. Received: {type(rnn).__name__} ({rnn.name!r})")


def _activation_name(fn) -> str:
    return getattr(fn, "__name__", str(fn))


def _check_keras_rnn(rnn, kind: str, backwards: bool) -> None:
    """Refuse what torch cannot express, naming the option of ``rnn`` and why."""
    where = f"{type(rnn).__name__} {rnn.name!r}"
    if rnn.go_backwards != backwards:
        raise ValueError(
            f"{where}: go_backwards=True cannot be converted: torch runs a direction backwards only as "
            "the second half of a bidirectional module, whose output it re-aligns with the input. "
            "Wrap the layer in Bidirectional instead. Received: go_backwards=True"
        )
    if rnn.stateful:
        raise ValueError(
            f"{where}: stateful=True cannot be converted: torch modules keep no state between calls "
            "(pass h_0 explicitly). Received: stateful=True"
        )
    cell = rnn.cell
    activation = _activation_name(cell.activation)
    allowed = ("tanh", "relu") if kind == "rnn" else ("tanh",)
    if activation not in allowed:
        raise ValueError(
            f"{where}: activation={activation!r} cannot be converted: torch's {_TORCH_CLASSES[kind]} only has "
            f"{' or '.join(allowed)}. Received: activation={activation!r}"
        )
    if kind != "rnn":
        recurrent = _activation_name(cell.recurrent_activation)
        if recurrent != "sigmoid":
            raise ValueError(
                f"{where}: recurrent_activation={recurrent!r} cannot be converted: torch's gates are "
                f"always sigmoid. Received: recurrent_activation={recurrent!r}"
            )
    if kind == "gru" and not cell.reset_after:
        raise ValueError(
            f"{where}: reset_after=False cannot be converted: torch's GRU applies the reset gate after "
            "the recurrent matmul, r * (W_hn h + b_hn), and (r * h) W_hn is another function even "
            "without biases. Received: reset_after=False"
        )
    _need_built(rnn)


def _keras_recurrent_parts(layer) -> tuple[str, list[list], dict[str, Any]]:
    """Check a Keras recurrent layer or stack; return (kind, per layer [forward(, backward)], options).

    The options are torch's: input_size, hidden_size, num_layers, bias, bidirectional, nonlinearity.
    """
    import keras

    stack = list(layer.layers) if isinstance(layer, keras.Sequential) else [layer]
    if not stack:
        raise ValueError(f"Sequential {layer.name!r} has no layers to convert")
    _need_built(layer)
    directions: list[list] = []  # per layer: [forward] or [forward, backward]
    for k, sub in enumerate(stack):
        if isinstance(sub, keras.layers.Bidirectional):
            if sub.merge_mode != "concat":
                raise ValueError(
                    f"Bidirectional {sub.name!r}: merge_mode={sub.merge_mode!r} cannot be converted: torch "
                    f"concatenates the two directions. Received: merge_mode={sub.merge_mode!r}"
                )
            pair = [sub.forward_layer, sub.backward_layer]
            if type(pair[0]) is not type(pair[1]):
                raise ValueError(
                    f"Bidirectional {sub.name!r}: the backward layer is a {type(pair[1]).__name__}, the "
                    f"forward one a {type(pair[0]).__name__}; torch runs one kind in both directions"
                )
            directions.append(pair)
        elif isinstance(sub, (keras.layers.SimpleRNN, keras.layers.LSTM, keras.layers.GRU)):
            directions.append([sub])
        else:
            raise TypeError(
                f"keras_to_torch converts a Sequential of SimpleRNN / LSTM / GRU / Bidirectional layers "
                f"only. Received: layer {k} {sub.name!r}, a {type(sub).__name__}"
            )
    first = directions[0][0]
    kind = _keras_kind(first)
    D = len(directions[0])
    units, use_bias = first.cell.units, first.cell.use_bias
    activation = _activation_name(first.cell.activation)
    for k, rnns in enumerate(directions):
        if len(rnns) != D:
            raise ValueError(
                f"Layer {k} of {layer.name!r} is {'bi' if len(rnns) == 2 else 'uni'}directional and layer 0 "
                "is not: torch's bidirectional applies to every layer"
            )
        for d, rnn in enumerate(rnns):
            if _keras_kind(rnn) != kind:
                raise ValueError(
                    f"Layer {k} of {layer.name!r} is a {type(rnn).__name__} and layer 0 a {type(first).__name__}: "
                    "one torch module runs one kind"
                )
            _check_keras_rnn(rnn, kind, backwards=d == 1)
            for option, value in (
                ("units", rnn.cell.units),
                ("use_bias", rnn.cell.use_bias),
                ("activation", _activation_name(rnn.cell.activation)),
            ):
                if value != {"units": units, "use_bias": use_bias, "activation": activation}[option]:
                    raise ValueError(
                        f"{rnn.name!r}: {option}={value!r} differs from layer 0's; one torch module has one "
                        f"hidden_size, bias and nonlinearity. Received: {option}={value!r}"
                    )
            if k < len(directions) - 1 and not rnn.return_sequences:
                raise ValueError(
                    f"{rnn.name!r}: return_sequences=False below the top of the stack cannot be converted: "
                    "torch feeds each layer's whole output sequence to the next"
                )
    options = {
        "input_size": first.cell.kernel.shape[0],
        "hidden_size": units,
        "num_layers": len(directions),
        "bias": use_bias,
        "bidirectional": D == 2,
        "nonlinearity": activation,
    }
    return kind, directions, options


def _rnn_keras_to_torch(layer):
    import torch

    kind, directions, options = _keras_recurrent_parts(layer)
    module_class = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    activation = options.pop("nonlinearity")
    if kind == "rnn":
        options["nonlinearity"] = activation
    module = module_class(batch_first=True, **options).to(_torch_dtype(directions[0][0]))
    with torch.no_grad():
        for k, rnns in enumerate(directions):
            for d, rnn in enumerate(rnns):
                suffix = f"_l{k}" + ("_reverse" if d == 1 else "")
                values = [np.asarray(v.numpy()) for v in _cell_variables(rnn.cell)]
                for n, value in _keras_to_torch_cell(kind, values).items():
                    getattr(module, f"{n}{suffix}").copy_(torch.as_tensor(value))
    return module


def _keras_to_torch_cell(kind: str, values: list[np.ndarray]) -> dict[str, np.ndarray]:
    """One direction of one layer: Keras' [kernel, recurrent_kernel, bias] -> torch's (out, in) matrices."""
    kernel, recurrent_kernel = values[0], values[1]
    if kind == "gru":
        kernel, recurrent_kernel = _swap_gru_gates(kernel, 1), _swap_gru_gates(recurrent_kernel, 1)
    out = {"weight_ih": kernel.T, "weight_hh": recurrent_kernel.T}
    if len(values) == 3:
        bias = values[2]
        if kind == "gru":
            out.update(bias_ih=_swap_gru_gates(bias[0], 0), bias_hh=_swap_gru_gates(bias[1], 0))
        else:  # torch adds b_ih + b_hh; Keras' single bias is their sum
            out.update(bias_ih=bias, bias_hh=np.zeros_like(bias))
    return out


def _check_keras_mha(layer, target: str) -> tuple[dict, str]:
    """Refuse what neither torch's MultiheadAttention nor the canonical layout (``target``) can express.

    Returns the layer's config and the layer's name for error messages.
    """
    _need_built(layer)
    cfg = layer.get_config()
    key_dim, value_dim = cfg["key_dim"], cfg["value_dim"] or cfg["key_dim"]
    where = f"MultiHeadAttention {layer.name!r}"
    if key_dim != value_dim:
        raise ValueError(
            f"{where}: key_dim != value_dim cannot be converted: {target} has one head size for queries, "
            f"keys and values. Received: key_dim={key_dim}, value_dim={value_dim}"
        )
    D = layer.query_dense.kernel.shape[0]
    if cfg["output_shape"] is not None and tuple(np.atleast_1d(cfg["output_shape"])) != (D,):
        raise ValueError(
            f"{where}: output_shape cannot be converted: {target}'s output has the query's size. "
            f"Received: output_shape={cfg['output_shape']}"
        )
    if cfg["attention_axes"] not in (None, (1,), [1]):
        raise ValueError(
            f"{where}: attention_axes cannot be converted: {target} attends over the sequence axis only. "
            f"Received: attention_axes={cfg['attention_axes']}"
        )
    for option, inert in (("use_gate", False), ("sliding_window", None)):
        if cfg.get(option, inert) != inert:
            raise ValueError(
                f"{where}: {option} cannot be converted: {target} has no such option. "
                f"Received: {option}={cfg[option]!r}"
            )
    return cfg, where


def _mha_keras_to_torch(layer):
    import torch

    cfg, where = _check_keras_mha(layer, "torch's MultiheadAttention")
    H, key_dim, E = cfg["num_heads"], cfg["key_dim"], layer.query_dense.kernel.shape[0]
    if H * key_dim != E:
        raise ValueError(
            f"{where}: num_heads * key_dim != query size cannot be converted: torch's head size is "
            f"embed_dim / num_heads. Received: {H} * {key_dim} != {E}"
        )
    use_bias = cfg["use_bias"]
    kdim, vdim = layer.key_dense.kernel.shape[0], layer.value_dense.kernel.shape[0]
    module = torch.nn.MultiheadAttention(
        E, H, dropout=cfg["dropout"], bias=use_bias, kdim=kdim, vdim=vdim, batch_first=True
    ).to(_torch_dtype(layer))
    denses = (layer.query_dense, layer.key_dense, layer.value_dense)
    W = [np.asarray(dense.kernel.numpy()).reshape(-1, E).T for dense in denses]  # (E, E_in), out x in
    t = torch.as_tensor
    with torch.no_grad():
        if module._qkv_same_embed_dim:
            module.in_proj_weight.copy_(t(np.concatenate(W)))
        else:
            for n, w in zip("qkv", W, strict=True):
                getattr(module, f"{n}_proj_weight").copy_(t(w))
        module.out_proj.weight.copy_(t(np.asarray(layer.output_dense.kernel.numpy()).reshape(E, E).T))
        if use_bias:
            module.in_proj_bias.copy_(t(np.concatenate([np.asarray(d.bias.numpy()).reshape(E) for d in denses])))
            module.out_proj.bias.copy_(t(np.asarray(layer.output_dense.bias.numpy())))
    return module


def _dense_keras_to_torch(layer):
    import torch

    _need_built(layer)
    activation = _activation_name(layer.activation)
    if activation != "linear":
        raise ValueError(
            f"Dense {layer.name!r}: activation={activation!r} cannot be converted: nn.Linear has no "
            f"activation (follow it with the torch function). Received: activation={activation!r}"
        )
    if getattr(layer, "lora_enabled", False):
        raise ValueError(f"Dense {layer.name!r}: LoRA cannot be converted: nn.Linear has no low-rank update")
    kernel = np.asarray(layer.kernel.numpy())  # (in, out)
    module = torch.nn.Linear(kernel.shape[0], kernel.shape[1], bias=layer.use_bias).to(_torch_dtype(layer))
    with torch.no_grad():
        module.weight.copy_(torch.as_tensor(kernel.T))
        if layer.use_bias:
            module.bias.copy_(torch.as_tensor(np.asarray(layer.bias.numpy())))
    return module


def _embedding_keras_to_torch(layer):
    """``mask_zero=True`` changes no output value: the ids' mask, ``ids != 0``, is for the caller to make."""
    import torch

    _need_built(layer)
    if getattr(layer, "lora_enabled", False):
        raise ValueError(f"Embedding {layer.name!r}: LoRA cannot be converted: nn.Embedding has no low-rank update")
    table = np.asarray(layer.embeddings.numpy())
    module = torch.nn.Embedding(*table.shape).to(_torch_dtype(layer))
    with torch.no_grad():
        module.weight.copy_(torch.as_tensor(table))
    return module


# ---------------------------------------------------------------------------------------------
# canonical (registry models) <-> built-in layers

# The registry models whose canonical layout a built-in layer holds, and the recurrent kinds among them.
CANONICAL_MODELS = ("rnn", "lstm", "gru", "multi_head_attention")
_RECURRENT_MODELS = ("rnn", "lstm", "gru")


def _canonical_entry(name: str, config, weights: Mapping[str, np.ndarray]):
    from twinmem import registry
    from twinmem.weights import check_weights

    if name not in CANONICAL_MODELS:
        raise ValueError(
            f"Only the registry models {', '.join(CANONICAL_MODELS)} are built-in layers. Received: {name!r}"
        )
    entry = registry.get(name)
    if not isinstance(config, entry.config):
        raise TypeError(f"Expected a {entry.config.__name__} for model {name!r}. Received: {type(config).__name__}")
    check_weights(weights, entry.weight_shapes(config), name)
    return entry


def _canonical_cells(config, weights: Mapping[str, np.ndarray], dtype: str) -> list[list[np.ndarray]]:
    """Per cell k: [W_ih, W_hh, b], which are Keras' [kernel, recurrent_kernel, bias] as they are."""
    D = 2 if config.bidirectional else 1
    return [
        [np.asarray(weights[f"cells.{k}.{n}"], dtype=dtype) for n in ("W_ih", "W_hh", "b")]
        for k in range(config.num_layers * D)
    ]


def canonical_to_torch(name: str, config, weights: Mapping[str, np.ndarray], dtype: str = "float32"):
    """Canonical weights of a registry model -> the torch built-in layer computing it, bit-exactly.

    Args:
        name: "rnn", "lstm", "gru" or "multi_head_attention".
        config: the model's config (``RNNConfig``, ...; ``path`` plays no part).
        weights: its canonical weights (``registry.get(name).weight_shapes(config)``).
        dtype: "float32" or "float64", of the module.

    Returns:
        ``rnn`` / ``lstm`` / ``gru``: an ``nn.RNN`` (``nonlinearity=config.activation``) / ``nn.LSTM``
        / ``nn.GRU`` with ``batch_first=True`` and ``config.dropout`` between layers, in inference mode
        (``.train(False)``, as the twins start), called ``output, h_n = module(x)`` (LSTM:
        ``output, (h_n, c_n)``) with x (B, T, D): the twin's outputs without a mask. The single canonical
        bias b of ``rnn`` / ``lstm`` goes to ``bias_ih``, zeros to ``bias_hh`` (b + 0 is b exactly); the
        GRU's z|r|n blocks are reordered r|z|n and its (2, 3H) bias split into ``bias_ih``, ``bias_hh``.

        ``multi_head_attention``: ``mha_to_torch`` (needs num_heads * head_dim == d_model).
        ``config.causal`` is not a weight: pass torch's ``attn_mask`` at call time.
    """
    import torch

    _canonical_entry(name, config, weights)
    if name == "multi_head_attention":
        return mha_to_torch(weights, config, dtype)
    c = config
    module_class = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[name]
    options: dict[str, Any] = {"nonlinearity": c.activation} if name == "rnn" else {}
    # torch warns about dropout on a single layer, where it acts nowhere (as in the twins).
    dropout = c.dropout if c.num_layers > 1 else 0.0
    module = module_class(
        c.input_size,
        c.hidden_size,
        num_layers=c.num_layers,
        batch_first=True,
        dropout=dropout,
        bidirectional=c.bidirectional,
        dtype=getattr(torch, dtype),
        **options,
    )
    D = 2 if c.bidirectional else 1
    with torch.no_grad():
        for k, values in enumerate(_canonical_cells(c, weights, dtype)):
            suffix = f"_l{k // D}" + ("_reverse" if k % D else "")
            for n, value in _keras_to_torch_cell(name, values).items():
                getattr(module, f"{n}{suffix}").copy_(torch.as_tensor(np.ascontiguousarray(value)))
    return module.train(False)


def canonical_to_keras(
    name: str, config, weights: Mapping[str, np.ndarray], dtype: str = "float32", layer_name: str | None = None
):
    """Canonical weights of a registry model -> the Keras built-in layer computing it, bit-exactly.

    Args:
        name, config, weights, dtype: as in ``canonical_to_torch``.
        layer_name: the Keras layer's name, as ``torch_to_keras``'s ``name`` (the variable paths are
            then the ones ``twinmem convert`` writes). None lets Keras choose.

    Returns:
        ``rnn`` / ``lstm`` / ``gru``: what ``torch_to_keras`` makes from the ``canonical_to_torch``
        module: a ``SimpleRNN`` / ``LSTM`` / ``GRU`` (``reset_after=True``), in a
        ``Bidirectional(merge_mode="concat")`` when bidirectional, in a ``keras.Sequential`` when
        ``num_layers > 1``, returning sequences: ``layer(x)`` with x (B, T, D) is the twin's
        ``output`` (B, T, D H) without a mask; ``keras_call_like_torch(layer, x)`` gives the final
        states too, (output, h_n) or (output, (h_n, c_n)) as the twin's. The canonical cell *is*
        Keras' [kernel, recurrent_kernel, bias] (gates i, f, c, o and z, r, h), assigned as it is.
        ``config.dropout`` is not carried: Keras has no dropout between stacked layers (inference
        agrees).

        ``multi_head_attention``: ``mha_to_keras``; ``config.causal`` is Keras' call-time
        ``use_causal_mask``.
    """
    _canonical_entry(name, config, weights)
    if name == "multi_head_attention":
        return mha_to_keras(weights, config, dtype, name=layer_name)
    c = config
    activation = c.activation if name == "rnn" else "tanh"
    out, cells = _keras_recurrent_stack(
        name, c.input_size, c.hidden_size, c.num_layers, c.bidirectional, True, activation, dtype, layer_name
    )
    for cell, values in zip(cells, _canonical_cells(c, weights, dtype), strict=True):
        for variable, value in zip(_cell_variables(cell), values, strict=True):
            variable.assign(value)
    return out


def _zeros_bias(kind: str, hidden_size: int, dtype) -> np.ndarray:
    G = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    return np.zeros((2, G * hidden_size) if kind == "gru" else (G * hidden_size,), dtype=dtype)


def torch_to_canonical(module) -> tuple[str, Any, dict[str, np.ndarray]]:
    """A torch built-in layer -> (registry model name, its config, canonical weights).

    Args:
        module: an ``nn.RNN`` (tanh or relu), ``nn.LSTM``, ``nn.GRU`` or an ``nn.MultiheadAttention``
            whose keys and values have the query's size (no ``kdim`` / ``vdim``). The weights keep
            its dtype.

    Returns:
        ``("rnn" | "lstm" | "gru", config, weights)`` with ``dropout`` carried and ``path="explicit"``;
        the registry twin on batch-major x computes the module's ``output`` and final states
        (``batch_first=False``: transpose the input). Transposes and block permutations are exact;
        ``rnn`` / ``lstm`` hold one bias, b = ``bias_ih + bias_hh``, a float sum, so they are exact up to
        its rounding (going back, ``canonical_to_torch`` puts b in ``bias_ih`` and zeros in ``bias_hh``).
        ``bias=False`` gives zero biases (exact).

        ``("multi_head_attention", MultiHeadAttentionConfig(d_model=E, num_heads=H,
        head_dim=E // H, causal=False), weights)``, exact; causality is torch's call-time ``attn_mask``,
        so set ``causal`` on the config yourself. ``bias=False`` gives zero biases. Dropout (training
        only) is not carried: the registry model has none.

    Raises:
        ValueError: naming what the canonical layout cannot express: ``proj_size > 0``, ``kdim`` /
            ``vdim`` other than ``embed_dim``, ``add_bias_kv``, ``add_zero_attn``, a dtype other than
            float32 / float64.
        TypeError: for a module of another type.
    """
    import torch

    if isinstance(module, torch.nn.RNNBase):
        return _rnn_torch_to_canonical(module)
    if isinstance(module, torch.nn.MultiheadAttention):
        return _mha_torch_to_canonical(module)
    raise TypeError(
        "torch_to_canonical converts nn.RNN, nn.LSTM, nn.GRU and nn.MultiheadAttention. "
        f"Received: {type(module).__name__}"
    )


def _rnn_torch_to_canonical(module) -> tuple[str, Any, dict[str, np.ndarray]]:
    from twinmem.configs.rnn import GRUConfig, LSTMConfig, RNNConfig

    kind = _TORCH_MODES.get(module.mode)
    if kind is None:
        raise ValueError(
            f"torch_to_canonical converts RNN_TANH, RNN_RELU, LSTM and GRU. Received: mode={module.mode!r}"
        )
    if getattr(module, "proj_size", 0) > 0:
        raise ValueError(
            "proj_size > 0 (an LSTM with projections) cannot be converted: the canonical lstm has no "
            f"projection of the hidden state (no W_hr). Received: proj_size={module.proj_size}"
        )
    _keras_dtype(module)  # float32 or float64 only
    options = dict(
        input_size=module.input_size,
        hidden_size=module.hidden_size,
        num_layers=module.num_layers,
        bidirectional=module.bidirectional,
        dropout=float(module.dropout),
    )
    if kind == "rnn":
        config: Any = RNNConfig(activation="relu" if module.mode == "RNN_RELU" else "tanh", **options)
    else:
        config = {"lstm": LSTMConfig, "gru": GRUConfig}[kind](**options)
    D = 2 if module.bidirectional else 1
    weights = {}
    for k in range(module.num_layers * D):
        suffix = f"_l{k // D}" + ("_reverse" if k % D else "")
        p = {n: _np(getattr(module, f"{n}{suffix}")) for n in ("weight_ih", "weight_hh")}
        if module.bias:
            p.update({n: _np(getattr(module, f"{n}{suffix}")) for n in ("bias_ih", "bias_hh")})
        values = _torch_to_keras_cell(kind, p)
        if not module.bias:
            values.append(_zeros_bias(kind, module.hidden_size, values[0].dtype))
        for n, value in zip(("W_ih", "W_hh", "b"), values, strict=True):
            weights[f"cells.{k}.{n}"] = np.ascontiguousarray(value)
    return kind, config, weights


def _mha_torch_to_canonical(module) -> tuple[str, Any, dict[str, np.ndarray]]:
    from twinmem.configs.attention import MultiHeadAttentionConfig

    E, H = module.embed_dim, module.num_heads
    if not module._qkv_same_embed_dim:
        raise ValueError(
            "kdim / vdim other than embed_dim cannot be converted: the canonical multi_head_attention "
            f"projects keys and values from d_model features. Received: kdim={module.kdim}, vdim={module.vdim}, "
            f"embed_dim={E}"
        )
    if module.bias_k is not None:
        raise ValueError(
            "add_bias_kv=True cannot be converted: the canonical multi_head_attention has no learned "
            "key/value appended to the sequence. Received: add_bias_kv=True"
        )
    if module.add_zero_attn:
        raise ValueError(
            "add_zero_attn=True cannot be converted: the canonical multi_head_attention appends no zero "
            "key/value. Received: add_zero_attn=True"
        )
    _keras_dtype(module)
    W_q, W_k, W_v = np.split(_np(module.in_proj_weight), 3)  # each (E, E), out x in
    W_o = _np(module.out_proj.weight)
    if module.in_proj_bias is not None:
        b_q, b_k, b_v = np.split(_np(module.in_proj_bias), 3)
        b_o = _np(module.out_proj.bias)
    else:
        b_q = b_k = b_v = b_o = np.zeros(E, dtype=W_o.dtype)
    weights = {"W_q": W_q.T, "b_q": b_q, "W_k": W_k.T, "b_k": b_k, "W_v": W_v.T, "b_v": b_v, "W_o": W_o.T, "b_o": b_o}
    config = MultiHeadAttentionConfig(d_model=E, num_heads=H, head_dim=E // H, causal=False)
    return "multi_head_attention", config, {n: np.ascontiguousarray(w) for n, w in weights.items()}


def keras_to_canonical(layer) -> tuple[str, Any, dict[str, np.ndarray]]:
    """A built Keras built-in layer -> (registry model name, its config, canonical weights), exactly.

    Args:
        layer: what ``keras_to_torch`` accepts of the recurrent layers (``SimpleRNN`` tanh / relu,
            ``LSTM``, ``GRU`` with ``reset_after=True``, a ``Bidirectional(merge_mode="concat")`` of
            one, a ``keras.Sequential`` of those), or a ``MultiHeadAttention`` with
            ``key_dim == value_dim`` whose query, key and value have one size d_model.

    Returns:
        ``("rnn" | "lstm" | "gru", config, weights)``: the Keras variables are the canonical cells as
        they are (``use_bias=False`` gives zero biases); ``dropout=0`` (Keras has none between
        stacked layers). ``("multi_head_attention", MultiHeadAttentionConfig(d_model, num_heads,
        head_dim=key_dim, causal=False), weights)``: the per-head kernels reshaped; Keras'
        ``use_causal_mask`` is a call argument, so set ``causal`` yourself.

    Raises:
        ValueError: naming what the canonical layout cannot express (``reset_after=False``,
            ``go_backwards=True``, ``key_dim != value_dim``, ... as ``keras_to_torch``), or for a layer
            not built.
        TypeError: for a layer of another type.
    """
    import keras

    if isinstance(layer, keras.Sequential) or isinstance(
        layer, (keras.layers.SimpleRNN, keras.layers.LSTM, keras.layers.GRU, keras.layers.Bidirectional)
    ):
        return _rnn_keras_to_canonical(layer)
    if isinstance(layer, keras.layers.MultiHeadAttention):
        return _mha_keras_to_canonical(layer)
    raise TypeError(
        "keras_to_canonical converts SimpleRNN, LSTM, GRU, Bidirectional, a Sequential of them and "
        f"MultiHeadAttention. Received: {type(layer).__name__}"
    )


def _rnn_keras_to_canonical(layer) -> tuple[str, Any, dict[str, np.ndarray]]:
    from twinmem.configs.rnn import GRUConfig, LSTMConfig, RNNConfig

    kind, directions, options = _keras_recurrent_parts(layer)
    _torch_dtype(directions[0][0])  # float32 or float64 only
    shape = dict(
        input_size=options["input_size"],
        hidden_size=options["hidden_size"],
        num_layers=options["num_layers"],
        bidirectional=options["bidirectional"],
    )
    if kind == "rnn":
        config: Any = RNNConfig(activation=options["nonlinearity"], **shape)
    else:
        config = {"lstm": LSTMConfig, "gru": GRUConfig}[kind](**shape)
    weights = {}
    k = 0
    for rnns in directions:
        for rnn in rnns:
            values = [np.asarray(v.numpy()) for v in _cell_variables(rnn.cell)]
            if not options["bias"]:
                values.append(_zeros_bias(kind, options["hidden_size"], values[0].dtype))
            for n, value in zip(("W_ih", "W_hh", "b"), values, strict=True):
                weights[f"cells.{k}.{n}"] = value
            k += 1
    return kind, config, weights


def _mha_keras_to_canonical(layer) -> tuple[str, Any, dict[str, np.ndarray]]:
    from twinmem.configs.attention import MultiHeadAttentionConfig

    cfg, where = _check_keras_mha(layer, "the canonical multi_head_attention")
    H, key_dim = cfg["num_heads"], cfg["key_dim"]
    denses = (layer.query_dense, layer.key_dense, layer.value_dense)
    sizes = [dense.kernel.shape[0] for dense in denses]
    D = sizes[0]
    if sizes[1:] != [D, D]:
        raise ValueError(
            f"{where}: key or value features other than the query's cannot be converted: the canonical "
            f"multi_head_attention projects all three from d_model features. Received: query {sizes[0]}, "
            f"key {sizes[1]}, value {sizes[2]}"
        )
    HD = H * key_dim
    weights = {}
    for dense, n in zip((*denses, layer.output_dense), "qkvo", strict=True):
        kernel = np.asarray(dense.kernel.numpy())
        weights[f"W_{n}"] = kernel.reshape((D, HD) if n != "o" else (HD, D))  # head h: columns [h d_h, (h+1) d_h)
        size = D if n == "o" else HD
        weights[f"b_{n}"] = (
            np.asarray(dense.bias.numpy()).reshape(size) if cfg["use_bias"] else np.zeros(size, kernel.dtype)
        )
    config = MultiHeadAttentionConfig(d_model=D, num_heads=H, head_dim=key_dim, causal=False)
    return "multi_head_attention", config, weights


def recurrent_builtin(kind: str, config, weights: Mapping[str, np.ndarray], framework: str, dtype: str = "float32"):
    """The framework's own recurrent layer for a registry ``rnn`` / ``lstm`` / ``gru`` config and weights.

    For the benchmarks, which time the built-ins beside the twins on the same canonical weights.

    Args:
        kind: "rnn", "lstm" or "gru" (the registry name).
        config: its ``RNNConfig`` / ``LSTMConfig`` / ``GRUConfig``.
        weights: canonical weights.
        framework: "torch" or "tf".
        dtype: "float32" or "float64".

    Returns:
        "torch": ``canonical_to_torch(kind, ...)``, an ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``
        (``batch_first=True``, inference mode), ``output, h_n = module(x)`` (LSTM:
        ``output, (h_n, c_n)``), x (B, T, D) -> output (B, T, D H). Move it with ``.to(device)``.
        "tf": ``canonical_to_keras(kind, ...)``, ``output = layer(x)``, x (B, T, D) -> (B, T, D H);
        ``keras_call_like_torch(layer, x)`` for the states. No masks: padded batches are the caller's.
    """
    if kind not in _RECURRENT_MODELS:
        raise ValueError(f"Expected `kind` to be one of {_RECURRENT_MODELS}. Received: {kind!r}")
    if framework == "torch":
        return canonical_to_torch(kind, config, weights, dtype)
    if framework == "tf":
        return canonical_to_keras(kind, config, weights, dtype)
    raise ValueError(f"Expected `framework` to be 'torch' or 'tf'. Received: {framework!r}")
