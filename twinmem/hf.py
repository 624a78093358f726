"""Hugging Face GPT-2 checkpoints <-> the canonical ``tiny_gpt`` layout, both ways, bit for bit.

A directory that transformers' ``save_pretrained`` writes for ``GPT2LMHeadModel`` (or ``GPT2Model``)
holds ``config.json`` and ``model.safetensors`` (or shards listed in ``model.safetensors.index.json``).
The architecture is the twins' own: pre-LayerNorm blocks, the tanh GELU, learned positions, a head tied
to the token embedding. The mapping, one row per tensor (HF's ``Conv1D`` kernels are already (in, out),
the canonical orientation; ``c_attn`` packs [W_q | W_k | W_v] along its columns, head h of each in
columns [h d_h, (h + 1) d_h), as in the twins):

========================================  ==============================================
transformers (``transformer.`` prefix)    canonical ``tiny_gpt``
========================================  ==============================================
``wte.weight`` (V, D)                     ``W_te``
``wpe.weight`` (T_max, D)                 ``W_pe``
``h.{n}.ln_1.weight`` / ``.bias``         ``blocks.{n}.ln_1.gamma`` / ``.beta``
``h.{n}.attn.c_attn.weight`` (D, 3 D)     ``blocks.{n}.attention.W_q | W_k | W_v``
``h.{n}.attn.c_attn.bias`` (3 D,)         ``blocks.{n}.attention.b_q | b_k | b_v``
``h.{n}.attn.c_proj.weight`` / ``.bias``  ``blocks.{n}.attention.W_o`` / ``.b_o``
``h.{n}.ln_2.weight`` / ``.bias``         ``blocks.{n}.ln_2.gamma`` / ``.beta``
``h.{n}.mlp.c_fc.weight`` / ``.bias``     ``blocks.{n}.mlp.W_fc`` / ``.b_fc``
``h.{n}.mlp.c_proj.weight`` / ``.bias``   ``blocks.{n}.mlp.W_proj`` / ``.b_proj``
``ln_f.weight`` / ``.bias``               ``ln_f.gamma`` / ``.beta``
``lm_head.weight`` (V, D), untied only    ``W_head`` = its transpose (D, V)
========================================  ==============================================

What the twins cannot compute is refused, naming the ``config.json`` key: another activation than the
tanh GELU (``gelu_new``, ``gelu_pytorch_tanh``), ``scale_attn_by_inverse_layer_idx``,
``reorder_and_upcast_attn``, unscaled attention, cross-attention, an MLP width other than 4 D, a
``layer_norm_epsilon`` that is not a finite number > 0 (any other is carried, both ways, as the config's
``layer_norm_eps``). Dropout (``resid_pdrop``, ``embd_pdrop``, ``attn_pdrop``) acts only in training and
the twins have none: inference is the same function, and the conversion warns that training would differ.
Checkpoints are read with safetensors only; a directory with only ``pytorch_model.bin`` (a pickle) is
refused, never loaded.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from twinmem.configs.transformer import LAYER_NORM_EPS, MLP_RATIO, TinyGPTConfig
from twinmem.specs.transformer import gpt_shapes
from twinmem.weights import Weights, default_permissions

_TANH_GELUS = ("gelu_new", "gelu_pytorch_tanh")  # both are 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
_DROPOUTS = ("resid_pdrop", "embd_pdrop", "attn_pdrop")
# Per block: HF name (after "h.{n}.") -> canonical name (after "blocks.{n}."), for the one-to-one tensors.
_BLOCK = {
    "ln_1.weight": "ln_1.gamma",
    "ln_1.bias": "ln_1.beta",
    "attn.c_proj.weight": "attention.W_o",
    "attn.c_proj.bias": "attention.b_o",
    "ln_2.weight": "ln_2.gamma",
    "ln_2.bias": "ln_2.beta",
    "mlp.c_fc.weight": "mlp.W_fc",
    "mlp.c_fc.bias": "mlp.b_fc",
    "mlp.c_proj.weight": "mlp.W_proj",
    "mlp.c_proj.bias": "mlp.b_proj",
}
_TOP = {"wte.weight": "W_te", "wpe.weight": "W_pe", "ln_f.weight": "ln_f.gamma", "ln_f.bias": "ln_f.beta"}


def config_from_hf(hf: Mapping[str, Any], where: str) -> TinyGPTConfig:
    """The ``TinyGPTConfig`` of a GPT-2 ``config.json``; a ValueError naming any key the twins cannot honour."""
    if hf.get("model_type") != "gpt2":
        raise ValueError(
            f"{where}: expected a GPT-2 config.json (model_type 'gpt2'). Received: {hf.get('model_type')!r}"
        )
    D, H = hf["n_embd"], hf["n_head"]
    eps = hf.get("layer_norm_epsilon", LAYER_NORM_EPS)  # transformers' GPT2Config default, the same 1e-5
    finite_eps = isinstance(eps, int | float) and not isinstance(eps, bool) and math.isfinite(eps) and eps > 0
    refusals = {
        "activation_function": (hf.get("activation_function", "gelu_new") in _TANH_GELUS, "the tanh GELU"),
        "scale_attn_weights": (hf.get("scale_attn_weights", True) is True, "true (scores divided by sqrt(d_h))"),
        "scale_attn_by_inverse_layer_idx": (not hf.get("scale_attn_by_inverse_layer_idx", False), "false"),
        "reorder_and_upcast_attn": (not hf.get("reorder_and_upcast_attn", False), "false"),
        "add_cross_attention": (not hf.get("add_cross_attention", False), "false (a decoder-only model)"),
        "n_inner": (hf.get("n_inner") in (None, MLP_RATIO * D), f"null or {MLP_RATIO} n_embd = {MLP_RATIO * D}"),
        "layer_norm_epsilon": (finite_eps, "a finite number > 0"),
        "n_head": (D % H == 0, f"a divisor of n_embd = {D}"),
    }
    for key, (ok, expected) in refusals.items():
        if not ok:
            raise ValueError(
                f"{where}: {key} = {hf.get(key)!r} cannot be converted: the twins compute GPT-2 with {key} {expected}"
            )
    dropped = {k: hf[k] for k in _DROPOUTS if hf.get(k)}
    if dropped:
        warnings.warn(
            f"{where}: dropout {dropped} is not carried: the twins have no dropout, so inference is the same "
            "function and training would differ",
            stacklevel=2,
        )
    return TinyGPTConfig(
        vocab_size=hf["vocab_size"],
        max_len=hf["n_positions"],
        d_model=D,
        num_heads=H,
        head_dim=D // H,
        num_layers=hf["n_layer"],
        tie_embeddings=bool(hf.get("tie_word_embeddings", True)),
        layer_norm_eps=float(eps),
    )


def config_to_hf(c: TinyGPTConfig, dtype: str) -> dict[str, Any]:
    """The ``config.json`` of a ``GPT2LMHeadModel`` that computes what ``c`` does (dropout off)."""
    if c.num_heads * c.head_dim != c.d_model:
        raise ValueError(
            f"GPT-2 needs num_heads * head_dim == d_model. Received: {c.num_heads} * {c.head_dim} != {c.d_model}"
        )
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": c.vocab_size,
        "n_positions": c.max_len,
        "n_embd": c.d_model,
        "n_layer": c.num_layers,
        "n_head": c.num_heads,
        "n_inner": None,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": c.layer_norm_eps,
        "scale_attn_weights": True,
        "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False,
        "add_cross_attention": False,
        "tie_word_embeddings": c.tie_embeddings,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "dtype": dtype,
    }


def _shards(directory: Path) -> dict[str, Path]:
    """Tensor name -> the safetensors file holding it (one file, or the shards of the index)."""
    index, single = directory / "model.safetensors.index.json", directory / "model.safetensors"
    if index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        files = {name: directory / shard for name, shard in weight_map.items()}
        missing = sorted({str(p.name) for p in files.values() if not p.is_file()})
        if missing:
            raise ValueError(
                f"{str(directory)!r}: shards listed in model.safetensors.index.json are missing: {missing}"
            )
        return files
    if single.is_file():
        with safe_open(str(single), framework="numpy") as f:
            return dict.fromkeys(f.keys(), single)  # noqa: SIM118 (safe_open has no iterator)
    if any((directory / n).exists() for n in ("pytorch_model.bin", "pytorch_model.bin.index.json")):
        raise ValueError(
            f"{str(directory)!r} holds only pytorch_model.bin, a pickle: twinmem reads weights only from "
            "safetensors, never with pickle (resave it with save_pretrained(..., safe_serialization=True))"
        )
    raise ValueError(f"{str(directory)!r} has no model.safetensors or model.safetensors.index.json")


def read_hf(directory: str | Path) -> tuple[TinyGPTConfig, Weights]:
    """A GPT-2 directory -> (config, canonical weights), exactly; one tensor read at a time."""
    directory = Path(directory)
    config_file = directory / "config.json"
    if not config_file.is_file():
        raise ValueError(f"{str(directory)!r} is not a Hugging Face model directory: it has no config.json")
    config = config_from_hf(json.loads(config_file.read_text()), str(config_file))
    files = _shards(directory)
    names = {n.removeprefix("transformer."): n for n in files}  # GPT2LMHeadModel prefixes, GPT2Model does not

    def tensor(name: str, shape: tuple[int, ...]) -> np.ndarray:
        if name not in names:
            raise ValueError(f"{str(directory)!r}: the checkpoint has no tensor {name!r}")
        with safe_open(str(files[names[name]]), framework="numpy") as f:
            value = f.get_tensor(names[name])
        if value.shape != shape:
            raise ValueError(f"{str(directory)!r}: {name!r} expected shape {shape}, received {value.shape}")
        if value.dtype not in (np.float32, np.float64):
            raise ValueError(f"{str(directory)!r}: {name!r} is {value.dtype}; twinmem converts float32 or float64")
        return value

    c, D = config, config.d_model
    weights: Weights = {"W_te": tensor("wte.weight", (c.vocab_size, D)), "W_pe": tensor("wpe.weight", (c.max_len, D))}
    block_shapes = {
        "ln_1.weight": (D,),
        "ln_1.bias": (D,),
        "attn.c_proj.weight": (D, D),
        "attn.c_proj.bias": (D,),
        "ln_2.weight": (D,),
        "ln_2.bias": (D,),
        "mlp.c_fc.weight": (D, MLP_RATIO * D),
        "mlp.c_fc.bias": (MLP_RATIO * D,),
        "mlp.c_proj.weight": (MLP_RATIO * D, D),
        "mlp.c_proj.bias": (D,),
    }
    for n in range(c.num_layers):
        hf, ours = f"h.{n}.", f"blocks.{n}."
        weights[ours + "ln_1.gamma"] = tensor(hf + "ln_1.weight", (D,))
        weights[ours + "ln_1.beta"] = tensor(hf + "ln_1.bias", (D,))
        W_qkv, b_qkv = tensor(hf + "attn.c_attn.weight", (D, 3 * D)), tensor(hf + "attn.c_attn.bias", (3 * D,))
        for i, x in enumerate("qkv"):
            weights[f"{ours}attention.W_{x}"] = np.ascontiguousarray(W_qkv[:, i * D : (i + 1) * D])
            weights[f"{ours}attention.b_{x}"] = b_qkv[i * D : (i + 1) * D].copy()
        for name, canonical in _BLOCK.items():
            if not canonical.startswith("ln_1"):
                weights[ours + canonical] = tensor(hf + name, block_shapes[name])
    weights["ln_f.gamma"] = tensor("ln_f.weight", (D,))
    weights["ln_f.beta"] = tensor("ln_f.bias", (D,))
    if not c.tie_embeddings:
        weights["W_head"] = np.ascontiguousarray(tensor("lm_head.weight", (c.vocab_size, D)).T)
    dtypes = {str(w.dtype) for w in weights.values()}
    if len(dtypes) > 1:
        raise ValueError(f"{str(directory)!r}: tensors of several dtypes {sorted(dtypes)}; expected one")
    return config, _canonical_order(weights, c)


def _canonical_order(weights: Weights, c: TinyGPTConfig) -> Weights:
    # The order tiny_gpt's twins export, so that a saved file lists its tensors so.
    return {n: weights[n] for n in gpt_shapes(c)}


def hf_tensors(config: TinyGPTConfig, weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Canonical ``tiny_gpt`` weights -> ``GPT2LMHeadModel``'s state (the tied head is not stored, as HF saves it)."""
    c = config
    out = {f"transformer.{hf}": np.ascontiguousarray(weights[ours]) for hf, ours in _TOP.items()}
    for n in range(c.num_layers):
        hf, ours = f"transformer.h.{n}.", f"blocks.{n}."
        for name, canonical in _BLOCK.items():
            out[hf + name] = np.ascontiguousarray(weights[ours + canonical])
        out[hf + "attn.c_attn.weight"] = np.concatenate([weights[f"{ours}attention.W_{x}"] for x in "qkv"], axis=1)
        out[hf + "attn.c_attn.bias"] = np.concatenate([weights[f"{ours}attention.b_{x}"] for x in "qkv"])
    if not c.tie_embeddings:
        out["lm_head.weight"] = np.ascontiguousarray(np.asarray(weights["W_head"]).T)
    return out


def write_hf(
    directory: str | Path, config: TinyGPTConfig, weights: Mapping[str, np.ndarray], force: bool = False
) -> None:
    """Write a directory ``GPT2LMHeadModel.from_pretrained`` loads: whole or not at all.

    An existing directory that is not empty is refused unless ``force`` (it is then replaced whole).
    """
    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())) and not force:
        raise ValueError(f"OUTPUT {str(directory)!r} exists and is not an empty directory; pass --force to replace it")
    if not directory.parent.is_dir():
        raise ValueError(f"OUTPUT's parent directory does not exist. Received: {str(directory)!r}")
    dtypes = {str(np.asarray(w).dtype) for w in weights.values()}
    tensors = hf_tensors(config, weights)
    hf_config = config_to_hf(config, dtypes.pop() if len(dtypes) == 1 else "float32")
    # Built beside the target and renamed into place: a failure leaves no half-written directory.
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        save_file(tensors, str(staging / "model.safetensors"), metadata={"format": "pt"})
        (staging / "config.json").write_text(json.dumps(hf_config, indent=2) + "\n")
        default_permissions(staging / "model.safetensors")
        default_permissions(staging, directory=True)
        if directory.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old.", dir=directory.parent))
            os.replace(directory, old / directory.name)
            os.replace(staging, directory)
            shutil.rmtree(old)
        else:
            os.replace(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
