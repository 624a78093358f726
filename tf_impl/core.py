"""What every TensorFlow twin shares: the initializer rule, canonical weights in and out, the embedding lookup."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from twinmem import checks
from twinmem.weights import (
    INITIALIZERS,
    cast_weights,
    check_finite,
    check_saved_config,
    check_weights,
    kernel_std,
    load_weights,
)


def weight(layer: keras.layers.Layer, name: str, shape: tuple[int, ...], init: str = "kernel") -> keras.Variable:
    """A new weight of ``layer`` by twinmem's one rule (``twinmem.weights.kernel_std``): "kernel" N(0, 1/fan_in),
    "zeros" (biases, shifts), "ones" (gains). Twins are compared after loading canonical weights."""
    if init not in INITIALIZERS:
        raise ValueError(f"Expected `init` to be one of {INITIALIZERS}. Received: {init!r}")
    initializer = keras.initializers.RandomNormal(stddev=kernel_std(shape)) if init == "kernel" else init
    return layer.add_weight(shape=shape, initializer=initializer, name=name)


def upcast(x):
    """x in float32 if it is 16-bit (bfloat16, float16), else x itself: for the steps a family's docstring
    computes in float32 (softmax, LayerNorm, GELU, the sums of a matmul)."""
    return tf.cast(x, tf.float32) if checks.is_low_precision(x.dtype) else x


def matmul(a, b, bias=None, transpose_b=False):
    """a @ b (b^T with ``transpose_b``) + ``bias``; 16-bit operands are multiplied and added in float32 and
    the result rounded once.

    Their values are float32 values, so the products are exact and the sums are float32's, whatever a
    framework's own 16-bit kernel would accumulate in (CPU kernels differ, and on a GPU torch may reduce
    float16 in float16): both twins round the same float32 sum once, to the operands' dtype. The bias
    is added in float32 too, so that its gradient, a sum over every leading axis, is summed in float32:
    TF 2.21 on CPU sums a float16 tensor over several axes with float16 partial sums (measured: a
    multi-head attention's b_k gradient 4 u off the reference, torch's 2.4 u), torch in float32.
    """
    if not checks.is_low_precision(a.dtype):
        y = tf.matmul(a, b, transpose_b=transpose_b)
        return y if bias is None else y + bias
    y = tf.matmul(upcast(a), upcast(b), transpose_b=transpose_b)
    return tf.cast(y if bias is None else y + upcast(bias), a.dtype)


def tensordot(a, b, bias=None):
    """a (..., U) . b (U, ...) + ``bias``, contracting one axis; 16-bit operands as ``matmul``."""
    if not checks.is_low_precision(a.dtype):
        y = tf.tensordot(a, b, axes=1)
        return y if bias is None else y + bias
    y = tf.tensordot(upcast(a), upcast(b), axes=1)
    return tf.cast(y if bias is None else y + upcast(bias), a.dtype)


def embed(E, ids):
    """Rows of the embedding E (V, d) at int ids of any shape: (...) -> (..., d)."""

    # tf.gather's gradient w.r.t. E is an IndexedSlices, which GradientTape hands back as it is for a
    # variable (and clipping, optimizers and NumPy then each need their own handling); this one is
    # the same sum of rows, made dense, as torch's indexing gives it.
    @tf.custom_gradient
    def lookup(E):
        def grad(dy):
            return tf.math.unsorted_segment_sum(tf.reshape(dy, (-1, E.shape[-1])), tf.reshape(ids, (-1,)), E.shape[0])

        return tf.gather(E, ids), grad

    return lookup(tf.convert_to_tensor(E))


def check_tensors(**tensors) -> None:
    """A TypeError naming an argument that is not a tensor or an array (TF ops take NumPy arrays as they are)."""
    checks.check_tensors((tf.Tensor, tf.Variable, keras.Variable, np.ndarray), "tf.Tensor or a NumPy array", tensors)


def known_values(x) -> np.ndarray | None:
    """x's values as NumPy for the value checks of twinmem.configs; None in a traced graph, which has none."""
    return np.asarray(x) if tf.executing_eagerly() else None


def _collect(obj) -> dict:
    # Attribute order is creation order, the order of the docstring's equations. A sub-twin names its own
    # variables (a fused recurrent path holds Keras layers, not attributes), under its attribute's name.
    out = {}
    for name, value in vars(obj).items():
        if name.startswith("_"):
            continue
        if isinstance(value, keras.Variable):
            out[name] = value
        elif isinstance(value, Twin):
            out.update({f"{name}.{n}": v for n, v in value.canonical_variables().items()})
        elif isinstance(value, list | tuple) and value and all(isinstance(v, Twin) for v in value):
            for i, v in enumerate(value):
                out.update({f"{name}.{i}.{n}": w for n, w in v.canonical_variables().items()})
    return out


class Twin(keras.layers.Layer):
    """Base of the TF twins. Weight names are the attribute names, sub-twins add ``name.``."""

    def __init__(self, **kwargs):
        checks.check_twin_dtype(kwargs.get("dtype", "float32"))
        # No autocast of float inputs to the layer's dtype: the input checks refuse a wrong dtype, as in torch.
        super().__init__(autocast=False, **kwargs)
        # Masks are explicit call arguments here; Keras' implicit mask propagation stays out of it
        # (without this, Keras warns on every call that a `mask` argument "destroys the mask").
        self.supports_masking = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Every twin can be saved and loaded by Keras (get_config / from_config, `.keras` files).
        keras.saving.register_keras_serializable(package="twinmem")(cls)

    def __call__(self, *args, **kwargs):
        # Keras refuses a Python list passed positionally in its own words before `call` runs; the twins
        # name the argument and what they take, as for every other input.
        names = list(inspect.signature(self.call).parameters)
        check_tensors(**{n: a for n, a in zip(names, args, strict=False) if isinstance(a, list)})
        return super().__call__(*args, **kwargs)

    def get_config(self) -> dict[str, Any]:
        """Keras' config plus the twin's own config dataclass, as a dict (``from_config`` rebuilds it)."""
        config = getattr(self, "config", None)
        if config is None or not dataclasses.is_dataclass(config) or isinstance(config, type):
            return super().get_config()
        # dtype as the twins take it, a name ("float64"), not Keras' serialised policy.
        return {**super().get_config(), "dtype": self.dtype, "config": dataclasses.asdict(config)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        config = dict(config)
        if "config" in config:
            config_class = typing.get_type_hints(cls.__init__)["config"]
            config["config"] = config_class(**config["config"])
        return cls(**config)

    def build(self, *args, **kwargs):
        # Every twin makes its weights in __init__ (the canonical order is creation order): nothing to build.
        self.built = True

    def compute_mask(self, inputs, previous_mask=None):
        return None

    def canonical_variables(self) -> dict[str, keras.Variable]:
        return _collect(self)

    def load_canonical(
        self,
        weights: Mapping[str, np.ndarray] | str | Path,
        ignore_config: bool = False,
        allow_nonfinite: bool = False,
        allow_16_bit_cast: bool = False,
    ) -> None:
        """Load canonical weights (a mapping or a safetensors path), cast to this twin's dtype.

        The cast rounds to nearest, ties to even, once, from the weights' own precision (a float32 or
        float64 file into a bfloat16 or float16 twin: ``twinmem.weights.cast_to``); a bfloat16 file reads as
        it is (``ml_dtypes.bfloat16``).

        A file's saved config must be this twin's (``ignore_config=True`` skips that check); NaN or
        infinite weights are refused unless ``allow_nonfinite``; so are weights the cast would make
        infinite, and a bfloat16 file into a float16 twin or back unless ``allow_16_bit_cast``
        (``twinmem.weights.cast_weights``). Nothing is assigned unless all pass.
        """
        if isinstance(weights, str | Path):
            source = repr(str(weights))
            weights, metadata = load_weights(weights, bfloat16=True)
            if not ignore_config:
                check_saved_config(metadata, getattr(self, "config", None), type(self).__name__, source)
        elif not isinstance(weights, Mapping):
            raise TypeError(
                f"Expected `weights` to be a mapping of name -> array or a safetensors path. Received: {type(weights).__name__}"
            )
        variables = self.canonical_variables()
        check_weights(weights, {n: tuple(v.shape) for n, v in variables.items()}, type(self).__name__)
        checks.check_float_weights(weights)
        if not allow_nonfinite:
            check_finite(weights)
        cast = cast_weights(weights, {n: checks.dtype_name(v.dtype) for n, v in variables.items()}, allow_16_bit_cast)
        for name, variable in variables.items():
            variable.assign(cast[name])

    def export_canonical(self) -> dict[str, np.ndarray]:
        return {name: np.array(v.numpy()) for name, v in self.canonical_variables().items()}
