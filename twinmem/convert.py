"""``twinmem convert``: a built-in layer's weights from torch's layout to Keras' and back, in safetensors.

    twinmem convert --from torch --to keras --layer lstm --input-size 8 --hidden-size 16 \\
        --num-layers 2 --bidirectional IN.safetensors OUT.safetensors

The torch side is the module's ``state_dict`` (names ``weight_ih_l0``, ``in_proj_weight``, ...);
the Keras side is the layer's variables named by their Keras paths
(``lstm/bidirectional_lstm_l0/forward_lstm_l0/lstm_cell/kernel``), for the layer that
``twinmem.interop.torch_to_keras(module, name=NAME)`` makes (``--name``, default the ``--layer``
kind). The layer is described on the command line, built in both frameworks, loaded from IN and
converted by ``twinmem.interop``, so the file conversion is the layer conversion, with the same
refusals. Files are read and written with safetensors only (never pickle); the dtype is the input
file's (float32 or float64).

The canonical layout of a registry model (``rnn``, ``lstm``, ``gru``, ``multi_head_attention``) is
a third layout, on either side:

    twinmem convert --from torch --to canonical --layer lstm --input-size 8 --hidden-size 16 \\
        --num-layers 2 --bidirectional IN.safetensors OUT.safetensors
    twinmem convert --from canonical --to keras OUT.safetensors KERAS.safetensors

A canonical file carries its model name and config in its metadata (``twinmem.model``,
``twinmem.config``, as ``twinmem.weights.save_weights`` writes them), so that
``registry.get(model).build(framework, config).load_canonical(path)`` loads it and ``--from
canonical`` needs no options; a file without them takes ``--model`` and the layer options
(``--embed-dim`` / ``--num-heads`` give d_model / num_heads, head_dim = d_model / num_heads). The
conversions are ``twinmem.interop``'s ``torch_to_canonical``, ``keras_to_canonical`` and
``canonical_to_torch``: exact, except that the one canonical bias of ``rnn`` / ``lstm`` is torch's
``bias_ih + bias_hh`` (a float sum), and what the canonical layout cannot express (``--kdim``,
``--vdim``) is refused. A layer without biases (``--no-bias``) becomes zero biases; going back from
canonical, the layer always has biases.

The command line and the input file's metadata are resolved once (``resolve``) into a frozen
``ConvertSpec``, which every conversion below takes. A file ``twinmem convert`` writes carries the
layer options in its metadata (``twinmem.options``; the schema is ``twinmem.weights``'s)
and, when converted from canonical, the canonical config (``twinmem.canonical_config``): converting
it back needs no options (one that contradicts the file is refused), and the config fields no torch
or Keras weight holds (``causal``, ``path``, ``dropout``) come back as they were.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twinmem import hf, interop, registry
from twinmem.frameworks import unavailable
from twinmem.layouts.recurrent import KINDS, TORCH_CLASSES
from twinmem.weights import Conversion, check_weights, config_from_metadata, load_weights, save_weights

LAYERS = ("rnn", "lstm", "gru", "mha", "linear", "embedding")
LAYOUTS = ("torch", "keras", "canonical", "hf")
# The registry models a built-in layer holds, and the layer kind of each.
MODELS = {"rnn": "rnn", "lstm": "lstm", "gru": "gru", "multi_head_attention": "mha"}
# Which options describe each layer kind; every one is required except those with a default.
_NEEDS = {
    "rnn": ("input_size", "hidden_size"),
    "lstm": ("input_size", "hidden_size"),
    "gru": ("input_size", "hidden_size"),
    "mha": ("embed_dim", "num_heads"),
    "linear": ("in_features", "out_features"),
    "embedding": ("num_embeddings", "embedding_dim"),
}


@dataclass(frozen=True)
class Layer:
    """The built-in layer a file holds, every option resolved: the command line, else the input file's
    ``twinmem.options``, else these defaults. ``name`` is the Keras layer name (None: the kind)."""

    layer: str
    name: str | None = None
    input_size: int | None = None
    hidden_size: int | None = None
    num_layers: int = 1
    bidirectional: bool = False
    nonlinearity: str = "tanh"
    embed_dim: int | None = None
    num_heads: int | None = None
    kdim: int | None = None
    vdim: int | None = None
    in_features: int | None = None
    out_features: int | None = None
    num_embeddings: int | None = None
    embedding_dim: int | None = None
    no_bias: bool = False

    @property
    def keras_name(self) -> str:
        return self.name or self.layer

    def options(self) -> dict[str, Any]:
        """Every option, as ``twinmem.options`` records it."""
        return dataclasses.asdict(self)

    def check_complete(self, what: str) -> None:
        missing = [f"--{n.replace('_', '-')}" for n in _NEEDS[self.layer] if getattr(self, n) is None]
        if missing:
            raise ValueError(f"{what} needs {', '.join(missing)}")
        if self.layer == "mha":
            _check_heads(self.embed_dim, self.num_heads)

    def describe(self) -> str:
        """The layer in words, for error messages and the output file's metadata."""
        shown = [f"{n}={getattr(self, n)}" for n in _NEEDS[self.layer]]
        if self.layer in KINDS:
            shown += [f"num_layers={self.num_layers}", f"bidirectional={self.bidirectional}"]
            if self.layer == "rnn":
                shown.append(f"nonlinearity={self.nonlinearity!r}")
        if self.layer == "mha":
            shown += [f"kdim={self.kdim}", f"vdim={self.vdim}"]
        if self.layer != "embedding":
            shown.append(f"bias={not self.no_bias}")
        return f"{self.layer}({', '.join(shown)})"

    def torch_module(self, dtype: str = "float32") -> Any:
        """The torch module this layer is (fresh weights), in ``dtype``."""
        import torch

        self.check_complete(f"--layer {self.layer}")
        bias = not self.no_bias
        if self.layer in KINDS:
            options = {"nonlinearity": self.nonlinearity} if self.layer == "rnn" else {}
            module = getattr(torch.nn, TORCH_CLASSES[self.layer])(
                self.input_size,
                self.hidden_size,
                num_layers=self.num_layers,
                bias=bias,
                batch_first=True,
                bidirectional=self.bidirectional,
                **options,
            )
        elif self.layer == "mha":
            module = torch.nn.MultiheadAttention(
                self.embed_dim, self.num_heads, bias=bias, kdim=self.kdim, vdim=self.vdim, batch_first=True
            )
        elif self.layer == "linear":
            assert self.in_features is not None and self.out_features is not None  # check_complete
            module = torch.nn.Linear(self.in_features, self.out_features, bias=bias)
        else:
            assert self.num_embeddings is not None and self.embedding_dim is not None  # check_complete
            module = torch.nn.Embedding(self.num_embeddings, self.embedding_dim)
        return module.to(getattr(torch, dtype))


OPTIONS = tuple(f.name for f in dataclasses.fields(Layer))


@dataclass(frozen=True)
class ConvertSpec:
    """One conversion, resolved once from the command line and the input file's metadata.

    ``model`` and ``config``: the canonical side's registry model and config (``--from canonical``:
    from the file, or ``--model`` and the options; ``--to canonical``: None until the layer is read).
    ``canonical_origin``: the canonical model and config (JSON) a torch / Keras file came from, carried on.
    """

    source: str
    target: str
    input: Path
    output: Path
    layer: Layer
    model: str | None = None
    config: Any = None
    causal: bool = False
    canonical_origin: tuple[str, str] | None = None


def _check_heads(embed_dim: int | None, num_heads: int | None) -> None:
    if embed_dim is None or num_heads is None:
        return
    if num_heads < 1 or embed_dim < 1:
        raise ValueError(f"Expected --embed-dim and --num-heads >= 1. Received: {embed_dim}, {num_heads}")
    if embed_dim % num_heads:
        raise ValueError(f"--embed-dim must be a multiple of --num-heads. Received: {embed_dim} and {num_heads}")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``convert`` subcommand to ``twinmem``'s subparsers and return its parser."""
    p = subparsers.add_parser(
        "convert",
        help="convert a built-in layer's weights between torch's state_dict and Keras' variables (safetensors)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--from", dest="source", choices=LAYOUTS, required=True, help="layout of INPUT")
    p.add_argument(
        "--to", dest="target", choices=LAYOUTS, help="layout of OUTPUT (default: torch <-> keras, the other)"
    )
    p.add_argument(
        "--layer", choices=LAYERS, help="the built-in layer the weights belong to (--from canonical: from the model)"
    )
    p.add_argument(
        "--model",
        choices=list(MODELS),
        help="the registry model of the canonical side (default: the file's metadata, or the --layer kind)",
    )
    p.add_argument("--causal", action="store_true", help="--to canonical, mha: the config's causal flag")
    p.add_argument("--name", help="Keras layer name, which prefixes the variable paths (default: the --layer kind)")
    g = p.add_argument_group("rnn / lstm / gru (nn.RNN, nn.LSTM, nn.GRU <-> SimpleRNN, LSTM, GRU)")
    g.add_argument("--input-size", type=int, help="H_in, the features of each input step")
    g.add_argument("--hidden-size", type=int, help="H, torch's hidden_size, Keras' units")
    g.add_argument("--num-layers", type=int, help="stacked layers (default: 1)")
    g.add_argument("--bidirectional", action="store_true", default=None, help="both directions, concatenated")
    g.add_argument("--nonlinearity", choices=["tanh", "relu"], help="rnn only (default: tanh)")
    g = p.add_argument_group("mha (nn.MultiheadAttention <-> MultiHeadAttention)")
    g.add_argument("--embed-dim", type=int, help="E, the query size (= num_heads * head size)")
    g.add_argument("--num-heads", type=int, help="H, the number of heads")
    g.add_argument("--kdim", type=int, help="key size (default: embed-dim)")
    g.add_argument("--vdim", type=int, help="value size (default: embed-dim)")
    g = p.add_argument_group("linear (nn.Linear <-> Dense)")
    g.add_argument("--in-features", type=int)
    g.add_argument("--out-features", type=int)
    g = p.add_argument_group("embedding (nn.Embedding <-> Embedding)")
    g.add_argument("--num-embeddings", type=int, help="vocabulary size")
    g.add_argument("--embedding-dim", type=int)
    p.add_argument(
        "--no-bias", action="store_true", default=None, help="the layer has no biases (rnn, lstm, gru, mha, linear)"
    )
    p.add_argument("--force", action="store_true", help="--to hf: replace OUTPUT if it is a non-empty directory")
    p.add_argument("input", metavar="INPUT", help="safetensors file in the --from layout (hf: a model directory)")
    p.add_argument("output", metavar="OUTPUT", help="safetensors file to write in the --to layout (hf: a directory)")
    p.set_defaults(func=cmd_convert)
    return p


# ---------------------------------------------------------------------------------------------
# argv + metadata -> ConvertSpec, once


def resolve(args: argparse.Namespace, metadata: Mapping[str, str]) -> ConvertSpec:
    """The conversion ``args`` (a parsed ``twinmem convert`` command line) asks of a file with ``metadata``.

    Each layer option comes from the command line, else the file's ``twinmem.options`` (what ``twinmem
    convert`` wrote), else its default; one given both ways must agree. ``--from canonical`` takes the
    layer from the canonical config, and an option the command line gave must agree with it.
    """
    given = {o: getattr(args, o) for o in OPTIONS if getattr(args, o, None) is not None}
    saved = Conversion.saved_options(metadata)
    defaults = {f.name: None if f.default is dataclasses.MISSING else f.default for f in dataclasses.fields(Layer)}
    options: dict[str, Any] = {}
    for option, default in defaults.items():
        value, stored = given.get(option), saved.get(option)
        if value is not None and stored is not None and value != stored:
            raise ValueError(
                f"--{option.replace('_', '-')} {value} contradicts the input file, written for {option} = {stored!r}"
            )
        options[option] = value if value is not None else stored if stored is not None else default
    target = _target(args.source, args.target, options["layer"])
    model, config, origin = getattr(args, "model", None), None, None
    if args.source == "canonical":
        model, config = _canonical_side(metadata, model, options, args.input)
        options.update(_layer_options(model, config))
        for option, value in given.items():  # the config set them; one the command line gave must agree
            if options[option] != value:
                raise ValueError(
                    f"--{option.replace('_', '-')} {value} contradicts the canonical file, whose config gives "
                    f"{option} = {options[option]!r}"
                )
    elif "twinmem.canonical_model" in metadata and "twinmem.canonical_config" in metadata:
        origin = (metadata["twinmem.canonical_model"], metadata["twinmem.canonical_config"])
    return ConvertSpec(
        source=args.source,
        target=target,
        input=Path(args.input),
        output=Path(args.output),
        layer=Layer(**options),
        model=model,
        config=config,
        causal=bool(getattr(args, "causal", False)),
        canonical_origin=origin,
    )


def _target(source: str, target: str | None, layer: str | None) -> str:
    if target is None and source == "canonical":
        raise ValueError("--from canonical needs --to torch or --to keras")
    target = target or ("keras" if source == "torch" else "torch")
    if target == source:
        raise ValueError(f"--from and --to are the same layout. Received: {source}")
    if source != "canonical" and layer is None:
        raise ValueError(f"--from {source} needs --layer")
    return target


def _layer_of_model(model: str, layer: str | None) -> str:
    if layer is not None and layer != MODELS[model]:
        raise ValueError(
            f"The canonical model {model!r} is the built-in layer {MODELS[model]!r}. Received: --layer {layer}"
        )
    return MODELS[model]


def _canonical_side(
    metadata: Mapping[str, str], model: str | None, options: Mapping[str, Any], source: str
) -> tuple[str, Any]:
    """(model name, config) of a canonical file: from its metadata, else from --model and the options."""
    saved = metadata.get("twinmem.model")
    if saved is not None:
        if model is not None and model != saved:
            raise ValueError(f"The file holds canonical {saved!r} weights. Received: --model {model}")
        if saved not in MODELS:
            raise ValueError(
                f"The file holds canonical {saved!r} weights; only {', '.join(MODELS)} are built-in layers"
            )
        model, config = saved, config_from_metadata(registry.get(saved).config, metadata, repr(source))
    else:
        if model is None:
            raise ValueError(
                "The file has no twinmem.model metadata: give --model and the layer options "
                f"(one of {', '.join(MODELS)})"
            )
        layer = _layer_of_model(model, options["layer"])
        missing = [f"--{n.replace('_', '-')}" for n in _NEEDS[layer] if options[n] is None]
        if missing:
            raise ValueError(f"--model {model} needs {', '.join(missing)}")
        config = _config_from_options(model, options)
    _layer_of_model(model, options["layer"])
    if model == "multi_head_attention" and config.num_heads * config.head_dim != config.d_model:
        raise ValueError(
            "torch.nn.MultiheadAttention needs num_heads * head_dim == d_model. "
            f"Received: {config.num_heads} * {config.head_dim} != {config.d_model}"
        )
    return model, config


def _config_from_options(model: str, options: Mapping[str, Any]) -> Any:
    entry = registry.get(model)
    if model == "multi_head_attention":
        E, H = options["embed_dim"], options["num_heads"]
        _check_heads(E, H)
        return entry.config(d_model=E, num_heads=H, head_dim=E // H)
    shape = {n: options[n] for n in ("input_size", "hidden_size", "num_layers", "bidirectional")}
    return entry.config(**shape, **({"activation": options["nonlinearity"]} if model == "rnn" else {}))


def _layer_options(model: str, config: Any) -> dict[str, Any]:
    """The built-in layer a canonical config describes (always with biases)."""
    if model == "multi_head_attention":
        return dict(
            layer="mha", embed_dim=config.d_model, num_heads=config.num_heads, kdim=None, vdim=None, no_bias=False
        )
    return dict(
        layer=MODELS[model],
        input_size=config.input_size,
        hidden_size=config.hidden_size,
        num_layers=config.num_layers,
        bidirectional=config.bidirectional,
        nonlinearity=getattr(config, "activation", "tanh"),
        no_bias=False,
    )


# ---------------------------------------------------------------------------------------------
# The conversions, each taking the spec


def _dtype_of(tensors: Mapping[str, np.ndarray]) -> str:
    dtypes = {str(t.dtype) for t in tensors.values()}
    if not dtypes:
        return "float32"
    if len(dtypes) > 1 or not dtypes <= {"float32", "float64"}:
        raise ValueError(f"Expected float32 or float64 tensors, all of one dtype. Received: {sorted(dtypes)}")
    return dtypes.pop()


def _loaded_torch(spec: ConvertSpec, tensors: Mapping[str, np.ndarray]) -> Any:
    import torch

    module = spec.layer.torch_module(_dtype_of(tensors))
    expected = {n: tuple(p.shape) for n, p in module.state_dict().items()}
    check_weights(tensors, expected, f"the torch state_dict of {spec.layer.describe()}", what="tensors")
    module.load_state_dict({n: torch.as_tensor(np.ascontiguousarray(t)) for n, t in tensors.items()})
    return module


def _loaded_keras(spec: ConvertSpec, tensors: Mapping[str, np.ndarray]) -> Any:
    # A layer made from a fresh module has the names and shapes; its values are then replaced.
    layer = interop.torch_to_keras(spec.layer.torch_module(_dtype_of(tensors)), name=spec.layer.keras_name)
    variables = {v.path: v for v in layer.weights}
    expected = {n: tuple(v.shape) for n, v in variables.items()}
    check_weights(tensors, expected, f"the Keras variables of {spec.layer.describe()}", what="tensors")
    for n, v in variables.items():
        v.assign(tensors[n])
    return layer


def _torch_state(module: Any) -> dict[str, np.ndarray]:
    return {n: p.detach().numpy().copy() for n, p in module.state_dict().items()}


def _keras_variables(layer: Any) -> dict[str, np.ndarray]:
    return {v.path: np.asarray(v.numpy()) for v in layer.weights}


def convert_tensors(spec: ConvertSpec, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Weights of ``spec.layer`` from the torch layout to Keras' or back."""
    if spec.source == "torch":
        return _keras_variables(interop.torch_to_keras(_loaded_torch(spec, tensors), name=spec.layer.keras_name))
    return _torch_state(interop.keras_to_torch(_loaded_keras(spec, tensors)))


def from_canonical(spec: ConvertSpec, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Canonical weights -> the built-in layer's tensors in the ``spec.target`` layout (exact)."""
    model, config = spec.model, spec.config
    assert model is not None, "resolve() sets the model of a --from canonical spec"
    check_weights(tensors, registry.get(model).weight_shapes(config), f"canonical {model} {config}")
    module = interop.canonical_to_torch(model, config, tensors, _dtype_of(tensors))
    if spec.target == "torch":
        return _torch_state(module)
    # Through the torch module, so the Keras paths are the ones --from torch --to keras writes; the
    # two-bias detour is exact (b + 0 is b).
    return _keras_variables(interop.torch_to_keras(module, name=spec.layer.keras_name))


def to_canonical(spec: ConvertSpec, tensors: Mapping[str, np.ndarray]) -> tuple[str, Any, dict[str, np.ndarray]]:
    """The built-in layer's tensors (``spec.source`` layout) -> (model name, config, canonical weights)."""
    layer = spec.layer.layer
    if layer not in MODELS.values():
        raise ValueError(
            f"--to canonical converts the layers {', '.join(MODELS.values())} (the registry models "
            f"{', '.join(MODELS)}). Received: --layer {layer}"
        )
    if spec.source == "torch":
        module = _loaded_torch(spec, tensors)
    else:
        module = interop.keras_to_torch(_loaded_keras(spec, tensors))
    model, config, weights = interop.torch_to_canonical(module)
    if spec.model is not None and spec.model != model:
        raise ValueError(f"--layer {layer} holds canonical {model!r} weights. Received: --model {spec.model}")
    if spec.causal:
        if model != "multi_head_attention":
            raise ValueError(f"--causal is a multi_head_attention option. Received: --layer {layer}")
        config = dataclasses.replace(config, causal=True)
    return model, _restore_config(spec, model, config), weights


def _restore_config(spec: ConvertSpec, model: str, config: Any) -> Any:
    """The canonical config a file converted from canonical came from, if it describes the same layer.

    A torch or Keras file holds no ``causal``, ``path`` or ``dropout``; ``twinmem convert`` kept the
    original config in the file's metadata, and it is taken back when every other field agrees.
    ``--causal`` still wins.
    """
    if spec.canonical_origin is None or spec.canonical_origin[0] != model:
        return config
    saved = config_from_metadata(
        registry.get(model).config, {"twinmem.config": spec.canonical_origin[1]}, repr(str(spec.input))
    )
    free = {"causal", "path", "dropout"}
    if any(getattr(saved, f.name) != getattr(config, f.name) for f in dataclasses.fields(config) if f.name not in free):
        return config
    return dataclasses.replace(saved, causal=True) if spec.causal else saved


# ---------------------------------------------------------------------------------------------
# The command


def convert_hf(args: argparse.Namespace) -> int:
    """A Hugging Face GPT-2 directory <-> a canonical ``tiny_gpt`` file (``twinmem.hf``), exactly."""
    pair = (args.source, args.target or "canonical")
    if pair not in (("hf", "canonical"), ("canonical", "hf")):
        raise ValueError(
            f"--from hf converts to canonical and --to hf from canonical (the twins load canonical weights "
            f"directly). Received: --from {args.source} --to {args.target}"
        )
    if Path(args.output).resolve() == Path(args.input).resolve():
        raise ValueError(f"OUTPUT is INPUT ({args.input!r}): the converted file would overwrite the original")
    if args.source == "hf":
        if not Path(args.input).is_dir():
            raise ValueError(
                f"--from hf reads a model directory (config.json, model.safetensors). Received: {args.input!r}"
            )
        if not Path(args.output).parent.is_dir():
            raise ValueError(f"OUTPUT's directory does not exist. Received: {args.output!r}")
        config, weights = hf.read_hf(args.input)
        save_weights(args.output, weights, "tiny_gpt", config)
        print(f"wrote {len(weights)} canonical tensors of tiny_gpt {config} to {args.output}")
        return 0
    try:
        weights, metadata = load_weights(args.input)
    except FileNotFoundError as e:
        raise ValueError(str(e)) from None
    if metadata.get("twinmem.model") != "tiny_gpt":
        raise ValueError(
            f"--to hf writes a GPT-2: the input must hold canonical tiny_gpt weights. Received: {args.input!r} holds "
            f"{metadata.get('twinmem.model')!r}"
        )
    entry = registry.get("tiny_gpt")
    config = config_from_metadata(entry.config, metadata, repr(args.input))
    check_weights(weights, entry.weight_shapes(config), f"canonical tiny_gpt {config}")
    hf.write_hf(args.output, config, weights, force=args.force)
    print(f"wrote a GPT2LMHeadModel directory of {config} to {args.output}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    if "hf" in (args.source, args.target):
        return convert_hf(args)
    try:
        tensors, metadata = load_weights(args.input)
    except FileNotFoundError as e:  # the CLI prints a ValueError's message instead of a traceback
        raise ValueError(str(e)) from None
    spec = resolve(args, metadata)
    if spec.output.resolve() == spec.input.resolve():
        raise ValueError(f"OUTPUT is INPUT ({args.input!r}): the converted file would overwrite the original")
    if not spec.output.parent.is_dir():
        raise ValueError(f"OUTPUT's directory does not exist. Received: {args.output!r}")
    # Every conversion builds the torch layer; Keras' side, and the canonical side (the registry twins), need TF.
    for fw in ("torch", "tf") if "keras" in (spec.source, spec.target) else ("torch",):
        if unavailable(fw):
            raise ValueError(unavailable(fw))
    if spec.target == "canonical":
        model, config, weights = to_canonical(spec, tensors)
        save_weights(spec.output, weights, model, config)
        print(f"wrote {len(weights)} canonical tensors of {model} {config} to {spec.output}")
        return 0
    if spec.source == "canonical":
        out = from_canonical(spec, tensors)
        origin: tuple[str, str] | None = (str(spec.model), json.dumps(dataclasses.asdict(spec.config)))
    else:
        out, origin = convert_tensors(spec, tensors), spec.canonical_origin
    conversion = Conversion(
        layout=spec.target,
        layer=spec.layer.describe(),
        source=json.dumps(str(args.input)),
        options=spec.layer.options(),
        canonical_model=origin[0] if origin else None,
        canonical_config=origin[1] if origin else None,
    )
    save_weights(spec.output, out, conversion=conversion)
    print(f"wrote {len(out)} {spec.target} tensors of {spec.layer.describe()} to {spec.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``twinmem convert ...`` on its own (``python -m twinmem.convert ...``); errors as the CLI prints them."""
    parser = argparse.ArgumentParser(prog="twinmem")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["convert", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.func(args)
    except ValueError as e:
        print(f"twinmem: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
