"""What the converters of every layer kind share: NumPy out of torch, the dtypes carried, the built check,
and the checks that a layer is exactly what the converters know (class, activations, quantization, dtype policy)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np


def _np(t: Any) -> np.ndarray:
    """A torch tensor's values as NumPy (detached, on the CPU)."""
    return t.detach().cpu().numpy()


def _keras_dtype(module: Any) -> str:
    """The Keras dtype of a torch module's weights: "float32" or "float64", the two the converters carry."""
    import torch

    dtype = next(module.parameters()).dtype
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"Converters carry float32 or float64 weights. Received: {dtype}")
    return str(dtype).removeprefix("torch.")


def _torch_dtype(layer: Any) -> Any:
    """The torch dtype of a Keras layer's weights: float32 or float64, the two the converters carry."""
    import torch

    if layer.dtype not in ("float32", "float64"):
        raise ValueError(f"Converters carry float32 or float64 weights. Received: dtype={layer.dtype!r}")
    return getattr(torch, layer.dtype)


def _need_built(layer: Any) -> None:
    """A Keras layer has weights only once built: refuse one that is not."""
    if not layer.built:
        raise ValueError(
            f"Layer {layer.name!r} is not built, so it has no weights yet: call it once or call "
            "layer.build(input_shape) first"
        )


def _qualified(obj: Any) -> str:
    """``module.Class`` of an object's class, so an error tells a user's subclass from the original."""
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _exact_class(obj: Any, classes: Sequence[type], caller: str, what: str) -> None:
    """Refuse ``obj`` unless its class is exactly one of ``classes``.

    ``isinstance`` is not enough: a subclass passes it while its overridden ``forward`` / ``call`` (or
    anything else it changes) is lost in the conversion, and the converted layer computes something else.
    """
    if type(obj) in classes:
        return
    base = next((c for c in classes if isinstance(obj, c)), None)
    if base is not None:
        raise TypeError(
            f"{caller} converts {what} of exactly those classes: {type(obj).__qualname__} is a subclass of "
            f"{base.__qualname__}, and what it overrides cannot be carried. Received: {_qualified(obj)}"
        )
    raise TypeError(f"{caller} converts {what}. Received: {_qualified(obj)}")


def _activation_name(fn: Any) -> str:
    """The name of a Keras activation if ``fn`` *is* Keras' own function of that name, else a description.

    Identity, not ``__name__``: a user function called ``tanh`` is not tanh. Keras stores
    ``keras.activations.<name>`` for ``activation="<name>"`` (and ``keras.activations.linear`` for None);
    ``keras.ops.<name>`` computes the same values and is accepted too. The description of anything
    else never equals a bare name, so every comparison with "tanh", "linear", ... refuses it.
    """
    import keras

    name = getattr(fn, "__name__", None)
    if isinstance(name, str) and any(getattr(m, name, None) is fn for m in (keras.activations, keras.ops)):
        return name
    where = f"{getattr(fn, '__module__', None)}.{getattr(fn, '__qualname__', name)}"
    return f"{where} (not Keras' own function)"


def _warn(message: str, stacklevel: int) -> None:
    """A ``UserWarning`` at the caller's line ``stacklevel`` frames up (the interop has no category of its own)."""
    warnings.warn(message, UserWarning, stacklevel=stacklevel + 1)


# The checks below run in a dispatcher's helper (``interop._torch_converter``): check, helper, dispatcher, caller.
_CHECK_STACKLEVEL = 4


# What a converted torch module may hold: torch's own classes, exactly. ``NonDynamicallyQuantizableLinear``
# is ``nn.MultiheadAttention``'s ``out_proj``: an ``nn.Linear`` that only keeps quantization tools away.
def _torch_known() -> tuple[type, ...]:
    import torch

    nn = torch.nn
    return (
        nn.RNN,
        nn.LSTM,
        nn.GRU,
        nn.MultiheadAttention,
        nn.Linear,
        nn.modules.linear.NonDynamicallyQuantizableLinear,
        nn.Embedding,
    )


def _check_torch_module(module: Any, caller: str) -> None:
    """Refuse what a torch module computes beyond its class and parameters; warn what trains differently.

    Every sub-module must be torch's own class exactly (a subclass, a parametrization, a QAT module
    is not); forward hooks change the output and are refused; backward hooks and frozen parameters
    change training only, and the Keras side would train every variable plainly, so they are warned.
    """
    known = _torch_known()
    frozen, backward = [], []
    for path, sub in module.named_modules():
        where = f"{type(module).__name__}" + (f" sub-module {path!r}" if path else "")
        if type(sub) not in known:
            raise TypeError(
                f"{caller}: {where} is a {_qualified(sub)}, not one of torch's own layers it converts: what it "
                "computes beyond them cannot be carried"
            )
        if sub._forward_hooks or sub._forward_pre_hooks:
            raise ValueError(
                f"{caller}: {where} has forward hooks (weight_norm, spectral_norm or a user hook): what they "
                "change in the forward pass cannot be carried. Remove them (or bake them into the weights) first"
            )
        if sub._backward_hooks or sub._backward_pre_hooks:
            backward.append(path or type(module).__name__)
        frozen += [f"{path}.{n}" if path else n for n, p in sub.named_parameters(recurse=False) if not p.requires_grad]
    if backward:
        _warn(
            f"{caller}: the backward hooks of {backward} are not carried: inference agrees, training differs",
            _CHECK_STACKLEVEL,
        )
    if frozen:
        _warn(
            f"{caller}: parameters {frozen} have requires_grad=False, and their Keras variables are trainable: "
            "inference agrees, training differs (set trainable=False on the Keras side)",
            _CHECK_STACKLEVEL,
        )


def _keras_known() -> tuple[type, ...]:
    """Keras' own layers a converted Keras layer may hold, exactly (the converters check how they nest)."""
    import keras

    L = keras.layers
    return (
        L.SimpleRNN, L.LSTM, L.GRU, L.SimpleRNNCell, L.LSTMCell, L.GRUCell, L.Bidirectional, keras.Sequential,
        L.InputLayer, L.MultiHeadAttention, L.EinsumDense, L.Softmax, L.Dropout, L.Dense, L.Embedding,
    )  # fmt: skip


def _check_keras_layer(layer: Any, caller: str) -> None:
    """Refuse what a Keras layer computes beyond its class and float variables; warn what trains differently.

    Over the layer and every layer inside it: a class other than Keras' own (exactly) is refused; a
    quantized layer (int8 / int4 / float8: integer kernels with separate scales, or scaled float8
    matmuls) and LoRA are refused, as torch's modules hold one float weight; so is a dtype policy whose
    compute dtype differs from its variables' (``mixed_float16``, ``mixed_bfloat16``): a torch module
    has no compute-dtype policy (``torch.autocast`` is the caller's, with its own cast rules), so the
    float32 module would compute in float32 what Keras computes in float16. Regularizers, constraints
    and frozen layers act only in training, which the torch side would do without them: warned.
    """
    known = _keras_known()
    regularized, frozen = [], []
    for sub in layer._flatten_layers(include_self=True):
        where = f"{type(sub).__name__} {sub.name!r}"
        if type(sub) not in known:
            raise TypeError(
                f"{caller}: {where} is a {_qualified(sub)}, not one of Keras' own layers it converts: what it "
                "computes beyond them cannot be carried"
            )
        mode = getattr(sub, "quantization_mode", None)
        if mode is not None:
            raise ValueError(
                f"{caller}: {where} is quantized (quantization_mode={mode!r}): its kernels are {mode} values "
                "with separate scales, and the torch module holds plain float weights. Convert the layer before "
                f"quantizing it. Received: dtype_policy={sub.dtype_policy.name!r}"
            )
        if getattr(sub, "lora_enabled", False):
            raise ValueError(f"{caller}: {where}: LoRA cannot be converted: torch's module has no low-rank update")
        policy = sub.dtype_policy
        if policy.compute_dtype != policy.variable_dtype:
            raise ValueError(
                f"{caller}: {where} has the dtype policy {policy.name!r}: it computes in {policy.compute_dtype} "
                f"on {policy.variable_dtype} variables, and a torch module has no such policy (it would compute "
                f"in {policy.variable_dtype}). To convert the variables and compute in {policy.variable_dtype} on "
                f"both sides, set layer.dtype_policy = {policy.variable_dtype!r} first. "
                f"Received: dtype_policy={policy.name!r}"
            )
        for attr, value in vars(sub).items():
            if value is not None and not attr.startswith("_") and attr.endswith(("_regularizer", "_constraint")):
                regularized.append(f"{sub.name}.{attr}")
        if not sub.trainable:
            frozen.append(sub.name)
    if regularized:
        _warn(
            f"{caller}: {regularized} are not carried: the torch module has no regularizers or constraints, "
            "so inference agrees and training differs",
            _CHECK_STACKLEVEL,
        )
    if frozen:
        _warn(
            f"{caller}: layers {frozen} have trainable=False and the torch parameters require grad: inference "
            "agrees, training differs (call requires_grad_(False) on the torch side)",
            _CHECK_STACKLEVEL,
        )
