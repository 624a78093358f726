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
  side assigns it as it is and the torch side goes through the layouts there;
* a built-in layer of one framework -> the same built-in layer of the other, carrying the same
  weights: ``torch_to_keras`` and ``keras_to_torch``, for ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``
  <-> ``SimpleRNN`` / ``LSTM`` / ``GRU`` (bidirectional -> ``Bidirectional(merge_mode="concat")``,
  several layers -> a ``keras.Sequential``), ``nn.MultiheadAttention`` <-> ``MultiHeadAttention``,
  ``nn.Linear`` <-> ``Dense`` and ``nn.Embedding`` <-> ``Embedding``. An option the other side
  cannot express is refused with a ValueError naming it; nothing is converted approximately.

This module holds the public dispatchers; each layer kind's converters live in its own module:
``recurrent`` (with the torch -> Keras layouts, gate by gate), ``attention`` (multi-head attention),
``dense`` (Linear / Dense, Embedding), and ``common`` (what they share).

What a converter takes is exactly what it knows, so that nothing converts into a layer that runs and
computes something else:

* the *exact* class, never a subclass (whose overridden ``forward`` / ``call`` would be lost), and only
  the frameworks' own classes inside it (no parametrization, QAT or user sub-layer): a TypeError;
* activations by *identity* (``keras.activations.tanh`` or ``keras.ops.tanh``, not any function named
  ``tanh``); torch forward hooks; quantized (int8 / int4 / float8) or LoRA Keras layers; a Keras dtype
  policy computing in another dtype than its variables' (``mixed_float16``, ``mixed_bfloat16``: torch
  modules have no such policy): a ValueError naming what it saw;
* what changes training only, and that the other side would train without, is not carried, and a
  UserWarning names it: recurrent dropout (torch's between layers, per step; Keras' ``dropout`` /
  ``recurrent_dropout`` inside a cell, one mask per sequence), ``nn.Embedding``'s ``padding_idx`` /
  ``scale_grad_by_freq`` / ``sparse``, Keras regularizers and constraints, frozen weights
  (``requires_grad=False``, ``trainable=False``), torch backward hooks. Inference agrees.

The attention dropout rate of ``MultiheadAttention`` / ``MultiHeadAttention`` (on the attention weights,
inverted, in both) is carried; ``keras_to_torch`` returns its module in inference mode (``.train(False)``),
as a Keras layer called outside ``fit``, so that it applies no dropout where the Keras layer applies none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from twinmem import registry
from twinmem.entry import ModelEntry
from twinmem.interop.attention import (
    mha_keras_to_canonical,
    mha_keras_to_torch,
    mha_to_keras,
    mha_to_torch,
    mha_torch_to_canonical,
    mha_torch_to_keras,
)
from twinmem.interop.common import _check_keras_layer, _check_torch_module, _exact_class
from twinmem.interop.dense import dense_to_torch, embedding_to_keras, embedding_to_torch, linear_to_keras
from twinmem.interop.recurrent import (
    keras_call_like_torch,
    rnn_canonical_to_keras,
    rnn_canonical_to_torch,
    rnn_keras_to_canonical,
    rnn_keras_to_torch,
    rnn_torch_to_canonical,
    rnn_torch_to_keras,
)
from twinmem.layouts.recurrent import KINDS
from twinmem.weights import check_weights

__all__ = [
    "CANONICAL_MODELS",
    "canonical_to_keras",
    "canonical_to_torch",
    "keras_call_like_torch",
    "keras_to_canonical",
    "keras_to_torch",
    "mha_to_keras",
    "mha_to_torch",
    "recurrent_builtin",
    "torch_to_canonical",
    "torch_to_keras",
]

# The registry models whose canonical layout a built-in layer holds: the recurrent kinds and attention.
CANONICAL_MODELS = (*KINDS, "multi_head_attention")


def _torch_converter(caller: str, module: Any) -> Any:
    """The converter of ``module``'s exact class for ``caller``, after the checks every torch module passes."""
    import torch

    nn = torch.nn
    recurrent = (nn.RNN, nn.LSTM, nn.GRU)
    table: dict[type, Any]
    if caller == "torch_to_keras":
        table = dict.fromkeys(recurrent, rnn_torch_to_keras)
        table[nn.MultiheadAttention] = mha_torch_to_keras
        # out_proj of nn.MultiheadAttention: an nn.Linear that only keeps quantization tools away.
        table.update(dict.fromkeys((nn.Linear, nn.modules.linear.NonDynamicallyQuantizableLinear), linear_to_keras))
        table[nn.Embedding] = embedding_to_keras
        what = "nn.RNN, nn.LSTM, nn.GRU, nn.MultiheadAttention, nn.Linear and nn.Embedding"
    else:
        table = dict.fromkeys(recurrent, rnn_torch_to_canonical)
        table[nn.MultiheadAttention] = mha_torch_to_canonical
        what = "nn.RNN, nn.LSTM, nn.GRU and nn.MultiheadAttention"
    _exact_class(module, list(table), caller, what)
    _check_torch_module(module, caller)
    return table[type(module)]


def _keras_converter(caller: str, layer: Any) -> Any:
    """The converter of ``layer``'s exact class for ``caller``, after the checks every Keras layer passes."""
    import keras

    L = keras.layers
    recurrent = rnn_keras_to_torch if caller == "keras_to_torch" else rnn_keras_to_canonical
    mha = mha_keras_to_torch if caller == "keras_to_torch" else mha_keras_to_canonical
    table: dict[type, Any] = dict.fromkeys((keras.Sequential, L.SimpleRNN, L.LSTM, L.GRU, L.Bidirectional), recurrent)
    table[L.MultiHeadAttention] = mha
    what = "SimpleRNN, LSTM, GRU, Bidirectional, a Sequential of them"
    if caller == "keras_to_torch":
        table.update({L.Dense: dense_to_torch, L.Embedding: embedding_to_torch})
        what += ", MultiHeadAttention, Dense and Embedding"
    else:
        what += " and MultiHeadAttention"
    _exact_class(layer, list(table), caller, what)
    _check_keras_layer(layer, caller)
    return table[type(layer)]


# ---------------------------------------------------------------------------------------------
# torch <-> Keras


def torch_to_keras(module: Any, name: str | None = None) -> Any:
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
            ``add_bias_kv``, ``add_zero_attn``) or forward hooks, naming it.
        TypeError: for a module of another type, a subclass of one, or one holding another sub-module.

    Warns:
        UserWarning: naming what only training would do differently and is not carried (dropout
        between recurrent layers, ``padding_idx``, ``scale_grad_by_freq``, ``sparse``, frozen
        parameters, backward hooks).
    """
    return _torch_converter("torch_to_keras", module)(module, name)


def keras_to_torch(layer: Any) -> Any:
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

        ``Dense``: an ``nn.Linear``; ``Embedding``: an ``nn.Embedding``. Every module is returned in
        inference mode (``.train(False)``), as a Keras layer called outside ``fit``.

    Raises:
        ValueError: for an option torch cannot express, naming it (``go_backwards=True``,
            ``stateful=True``, an activation other than tanh / relu, a recurrent activation other
            than sigmoid, ``reset_after=False``, layers of a stack that differ, a merge mode other
            than concat, ``key_dim != value_dim``, ``output_shape``, ...), an activation that is not
            Keras' own function, a quantized or LoRA layer, a mixed dtype policy, or a layer not built.
        TypeError: for a layer of another type, a subclass of one, or one holding another layer.

    Warns:
        UserWarning: naming what only training would do differently and is not carried (``dropout`` /
        ``recurrent_dropout``, regularizers, constraints, ``trainable=False``).
    """
    # In inference mode, as a Keras layer called outside fit: a module left in training mode would apply
    # MultiheadAttention's dropout where the Keras layer does not.
    return _keras_converter("keras_to_torch", layer)(layer).train(False)


# ---------------------------------------------------------------------------------------------
# canonical (registry models) <-> built-in layers


def _canonical_entry(name: str, config: Any, weights: Mapping[str, np.ndarray]) -> ModelEntry:
    if name not in CANONICAL_MODELS:
        raise ValueError(
            f"Only the registry models {', '.join(CANONICAL_MODELS)} are built-in layers. Received: {name!r}"
        )
    entry = registry.get(name)
    if not isinstance(config, entry.config):
        raise TypeError(f"Expected a {entry.config.__name__} for model {name!r}. Received: {type(config).__name__}")
    check_weights(weights, entry.weight_shapes(config), name)
    return entry


def canonical_to_torch(name: str, config: Any, weights: Mapping[str, np.ndarray], dtype: str = "float32") -> Any:
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
    _canonical_entry(name, config, weights)
    if name == "multi_head_attention":
        return mha_to_torch(weights, config, dtype)
    return rnn_canonical_to_torch(name, config, weights, dtype)


def canonical_to_keras(
    name: str, config: Any, weights: Mapping[str, np.ndarray], dtype: str = "float32", layer_name: str | None = None
) -> Any:
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
    return rnn_canonical_to_keras(name, config, weights, dtype, layer_name)


def torch_to_canonical(module: Any) -> tuple[str, Any, dict[str, np.ndarray]]:
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
    result: tuple[str, Any, dict[str, np.ndarray]] = _torch_converter("torch_to_canonical", module)(module)
    return result


def keras_to_canonical(layer: Any) -> tuple[str, Any, dict[str, np.ndarray]]:
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
    result: tuple[str, Any, dict[str, np.ndarray]] = _keras_converter("keras_to_canonical", layer)(layer)
    return result


def recurrent_builtin(
    kind: str, config: Any, weights: Mapping[str, np.ndarray], framework: str, dtype: str = "float32"
) -> Any:
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
    if kind not in KINDS:
        raise ValueError(f"Expected `kind` to be one of {KINDS}. Received: {kind!r}")
    if framework == "torch":
        return canonical_to_torch(kind, config, weights, dtype)
    if framework == "tf":
        return canonical_to_keras(kind, config, weights, dtype)
    raise ValueError(f"Expected `framework` to be 'torch' or 'tf'. Received: {framework!r}")
