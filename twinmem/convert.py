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

A file ``twinmem convert`` writes carries the layer options in its metadata (``twinmem.options``)
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
from pathlib import Path

import numpy as np

LAYERS = ("rnn", "lstm", "gru", "mha", "linear", "embedding")
LAYOUTS = ("torch", "keras", "canonical")
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


def add_parser(subparsers) -> argparse.ArgumentParser:
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
    p.add_argument("input", metavar="INPUT", help="safetensors file in the --from layout")
    p.add_argument("output", metavar="OUTPUT", help="safetensors file to write in the --to layout")
    p.set_defaults(func=cmd_convert)
    return p


def build_torch(args: argparse.Namespace, dtype: str = "float32"):
    """The torch module the options describe (fresh weights), in ``dtype``."""
    import torch

    resolve_options(args, {})  # options still unset (a caller that parsed arguments itself) take defaults

    missing = [f"--{n.replace('_', '-')}" for n in _NEEDS[args.layer] if getattr(args, n) is None]
    if missing:
        raise ValueError(f"--layer {args.layer} needs {', '.join(missing)}")
    bias = not args.no_bias
    if args.layer in ("rnn", "lstm", "gru"):
        module_class = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[args.layer]
        options = {"nonlinearity": args.nonlinearity} if args.layer == "rnn" else {}
        module = module_class(
            args.input_size,
            args.hidden_size,
            num_layers=args.num_layers,
            bias=bias,
            batch_first=True,
            bidirectional=args.bidirectional,
            **options,
        )
    elif args.layer == "mha":
        if args.num_heads < 1 or args.embed_dim < 1:
            raise ValueError(f"Expected --embed-dim and --num-heads >= 1. Received: {args.embed_dim}, {args.num_heads}")
        if args.embed_dim % args.num_heads:
            raise ValueError(
                f"--embed-dim must be a multiple of --num-heads. Received: {args.embed_dim} and {args.num_heads}"
            )
        module = torch.nn.MultiheadAttention(
            args.embed_dim, args.num_heads, bias=bias, kdim=args.kdim, vdim=args.vdim, batch_first=True
        )
    elif args.layer == "linear":
        module = torch.nn.Linear(args.in_features, args.out_features, bias=bias)
    else:
        module = torch.nn.Embedding(args.num_embeddings, args.embedding_dim)
    return module.to(getattr(torch, dtype))


def describe(args: argparse.Namespace) -> str:
    """The layer in words, for error messages and the output file's metadata."""
    resolve_options(args, {})
    shown = [f"{n}={getattr(args, n)}" for n in _NEEDS[args.layer]]
    if args.layer in ("rnn", "lstm", "gru"):
        shown += [f"num_layers={args.num_layers}", f"bidirectional={args.bidirectional}"]
        if args.layer == "rnn":
            shown.append(f"nonlinearity={args.nonlinearity!r}")
    if args.layer == "mha":
        shown += [f"kdim={args.kdim}", f"vdim={args.vdim}"]
    if args.layer != "embedding":
        shown.append(f"bias={not args.no_bias}")
    return f"{args.layer}({', '.join(shown)})"


def check_tensors(tensors: Mapping[str, np.ndarray], expected: Mapping[str, tuple], what: str) -> None:
    """Raise a ValueError naming every missing, unexpected or mis-shaped tensor."""
    problems = []
    missing = [n for n in expected if n not in tensors]
    if missing:
        problems.append("missing " + ", ".join(f"'{n}' (expected shape {expected[n]})" for n in missing))
    extra = [n for n in tensors if n not in expected]
    if extra:
        problems.append("unexpected " + ", ".join(f"'{n}'" for n in extra))
    for n, shape in expected.items():
        if n in tensors and tuple(tensors[n].shape) != tuple(shape):
            problems.append(f"'{n}' expected shape {tuple(shape)}, received {tuple(tensors[n].shape)}")
    if problems:
        raise ValueError(f"The tensors do not match {what}: " + "; ".join(problems))


def _dtype_of(tensors: Mapping[str, np.ndarray]) -> str:
    dtypes = {str(t.dtype) for t in tensors.values()}
    if not dtypes:
        return "float32"
    if len(dtypes) > 1 or not dtypes <= {"float32", "float64"}:
        raise ValueError(f"Expected float32 or float64 tensors, all of one dtype. Received: {sorted(dtypes)}")
    return dtypes.pop()


# Every layer option, and its value when neither the command line nor the input file gives it.
OPTIONS = {
    "layer": None,
    "name": None,
    "input_size": None,
    "hidden_size": None,
    "num_layers": 1,
    "bidirectional": False,
    "nonlinearity": "tanh",
    "embed_dim": None,
    "num_heads": None,
    "kdim": None,
    "vdim": None,
    "in_features": None,
    "out_features": None,
    "num_embeddings": None,
    "embedding_dim": None,
    "no_bias": False,
}


def resolve_options(args: argparse.Namespace, metadata: Mapping[str, str]) -> None:
    """Fill the layer options the command line left out from the input file's ``twinmem.options``
    (what ``twinmem convert`` wrote), then from the defaults; an option given both ways must agree."""
    saved = json.loads(metadata.get("twinmem.options", "{}"))
    for option, default in OPTIONS.items():
        given, stored = getattr(args, option), saved.get(option)
        if given is not None and stored is not None and given != stored:
            flag = "--" + option.replace("_", "-")
            raise ValueError(f"{flag} {given} contradicts the input file, written for {option} = {stored!r}")
        setattr(args, option, given if given is not None else stored if stored is not None else default)


def _target(args: argparse.Namespace) -> str:
    if args.target is None and args.source == "canonical":
        raise ValueError("--from canonical needs --to torch or --to keras")
    target = args.target or ("keras" if args.source == "torch" else "torch")
    if target == args.source:
        raise ValueError(f"--from and --to are the same layout. Received: {args.source}")
    if args.source != "canonical" and args.layer is None:
        raise ValueError(f"--from {args.source} needs --layer")
    return target


def _layer_of_model(model: str, args: argparse.Namespace) -> None:
    if args.layer is not None and args.layer != MODELS[model]:
        raise ValueError(
            f"The canonical model {model!r} is the built-in layer {MODELS[model]!r}. Received: --layer {args.layer}"
        )
    args.layer = MODELS[model]


def canonical_model(metadata: Mapping[str, str], args: argparse.Namespace):
    """(model name, config) of a canonical file: from its metadata, else from --model and the options.

    Also fills in ``args`` (``--layer`` and its options) from the config, so that the built-in layer
    on the other side is the one the config describes.
    """
    from twinmem import registry
    from twinmem.weights import config_from_metadata

    model = metadata.get("twinmem.model")
    if model is not None:
        if args.model is not None and args.model != model:
            raise ValueError(f"The file holds canonical {model!r} weights. Received: --model {args.model}")
        if model not in MODELS:
            raise ValueError(
                f"The file holds canonical {model!r} weights; only {', '.join(MODELS)} are built-in layers"
            )
        entry = registry.get(model)
        config = config_from_metadata(entry.config, metadata, repr(args.input))
    else:
        if args.model is None:
            raise ValueError(
                "The file has no twinmem.model metadata: give --model and the layer options "
                f"(one of {', '.join(MODELS)})"
            )
        model, entry = args.model, registry.get(args.model)
        _layer_of_model(model, args)
        missing = [f"--{n.replace('_', '-')}" for n in _NEEDS[args.layer] if getattr(args, n) is None]
        if missing:
            raise ValueError(f"--model {model} needs {', '.join(missing)}")
        config = _config_from_args(model, args)
    _layer_of_model(model, args)
    if model == "multi_head_attention":
        args.embed_dim, args.num_heads, args.kdim, args.vdim = config.d_model, config.num_heads, None, None
        if config.num_heads * config.head_dim != config.d_model:
            raise ValueError(
                "torch.nn.MultiheadAttention needs num_heads * head_dim == d_model. "
                f"Received: {config.num_heads} * {config.head_dim} != {config.d_model}"
            )
    else:
        args.input_size, args.hidden_size = config.input_size, config.hidden_size
        args.num_layers, args.bidirectional = config.num_layers, config.bidirectional
        args.nonlinearity = getattr(config, "activation", "tanh")
    args.no_bias = False
    return model, config


def _config_from_args(model: str, args: argparse.Namespace):
    from twinmem import registry

    entry = registry.get(model)
    if model == "multi_head_attention":
        if args.num_heads < 1 or args.embed_dim < 1:
            raise ValueError(f"Expected --embed-dim and --num-heads >= 1. Received: {args.embed_dim}, {args.num_heads}")
        if args.embed_dim % args.num_heads:
            raise ValueError(
                f"--embed-dim must be a multiple of --num-heads. Received: {args.embed_dim} and {args.num_heads}"
            )
        return entry.config(d_model=args.embed_dim, num_heads=args.num_heads, head_dim=args.embed_dim // args.num_heads)
    options = dict(
        input_size=args.input_size,
        hidden_size=args.hidden_size,
        num_layers=args.num_layers,
        bidirectional=args.bidirectional,
    )
    if model == "rnn":
        options["activation"] = args.nonlinearity
    return entry.config(**options)


def from_canonical(
    tensors: Mapping[str, np.ndarray], model: str, config, args: argparse.Namespace
) -> dict[str, np.ndarray]:
    """Canonical weights -> the built-in layer's tensors in the ``args.target`` layout (exact)."""
    from twinmem import interop, registry
    from twinmem.weights import check_weights

    check_weights(tensors, registry.get(model).weight_shapes(config), f"canonical {model} {config}")
    module = interop.canonical_to_torch(model, config, tensors, _dtype_of(tensors))
    if _target(args) == "torch":
        return {n: p.detach().numpy().copy() for n, p in module.state_dict().items()}
    # Through the torch module, so the Keras paths are the ones --from torch --to keras writes; the
    # two-bias detour is exact (b + 0 is b).
    layer = interop.torch_to_keras(module, name=args.name or args.layer)
    return {v.path: np.asarray(v.numpy()) for v in layer.weights}


def to_canonical(tensors: Mapping[str, np.ndarray], args: argparse.Namespace) -> tuple[str, object, dict]:
    """The built-in layer's tensors (``args.source`` layout) -> (model name, config, canonical weights)."""

    from twinmem import interop

    if args.layer not in MODELS.values():
        raise ValueError(
            f"--to canonical converts the layers {', '.join(MODELS.values())} (the registry models "
            f"{', '.join(MODELS)}). Received: --layer {args.layer}"
        )
    if args.source == "torch":
        module = _loaded_torch(tensors, args)
    else:
        module = interop.keras_to_torch(_loaded_keras(tensors, args))
    model, config, weights = interop.torch_to_canonical(module)
    if args.model is not None and args.model != model:
        raise ValueError(f"--layer {args.layer} holds canonical {model!r} weights. Received: --model {args.model}")
    if args.causal:
        if model != "multi_head_attention":
            raise ValueError(f"--causal is a multi_head_attention option. Received: --layer {args.layer}")
        config = dataclasses.replace(config, causal=True)
    return model, config, weights


def restore_config(model: str, config, metadata: Mapping[str, str], args: argparse.Namespace):
    """The canonical config a file converted from canonical came from, if it describes the same layer.

    A torch or Keras file holds no ``causal``, ``path`` or ``dropout``; ``twinmem convert`` kept the
    original config in the file's metadata, and it is taken back when every other field agrees.
    ``--causal`` still wins.
    """
    from twinmem import registry
    from twinmem.weights import config_from_metadata

    if metadata.get("twinmem.canonical_model") != model:
        return config
    entry = registry.get(model)
    saved = config_from_metadata(
        entry.config, {"twinmem.config": metadata["twinmem.canonical_config"]}, repr(args.input)
    )
    free = {"causal", "path", "dropout"}
    if any(getattr(saved, f.name) != getattr(config, f.name) for f in dataclasses.fields(config) if f.name not in free):
        return config
    return dataclasses.replace(saved, causal=True) if args.causal else saved


def _loaded_torch(tensors: Mapping[str, np.ndarray], args: argparse.Namespace):
    import torch

    module = build_torch(args, _dtype_of(tensors))
    expected = {n: tuple(p.shape) for n, p in module.state_dict().items()}
    check_tensors(tensors, expected, f"the torch state_dict of {describe(args)}")
    module.load_state_dict({n: torch.as_tensor(np.ascontiguousarray(t)) for n, t in tensors.items()})
    return module


def _loaded_keras(tensors: Mapping[str, np.ndarray], args: argparse.Namespace):
    from twinmem import interop

    # A layer made from a fresh module has the names and shapes; its values are then replaced.
    layer = interop.torch_to_keras(build_torch(args, _dtype_of(tensors)), name=args.name or args.layer)
    variables = {v.path: v for v in layer.weights}
    check_tensors(
        tensors, {n: tuple(v.shape) for n, v in variables.items()}, f"the Keras variables of {describe(args)}"
    )
    for n, v in variables.items():
        v.assign(tensors[n])
    return layer


def convert_tensors(tensors: Mapping[str, np.ndarray], args: argparse.Namespace) -> dict[str, np.ndarray]:
    """Weights of the layer ``args`` describes, from the ``args.source`` layout to ``args.target``'s."""
    from twinmem import interop

    _target(args)
    name = args.name or args.layer
    if args.source == "torch":
        layer = interop.torch_to_keras(_loaded_torch(tensors, args), name=name)
        return {v.path: np.asarray(v.numpy()) for v in layer.weights}
    layer = _loaded_keras(tensors, args)
    return {n: p.detach().numpy().copy() for n, p in interop.keras_to_torch(layer).state_dict().items()}


def cmd_convert(args: argparse.Namespace) -> int:
    from safetensors.numpy import save_file

    from twinmem.frameworks import unavailable
    from twinmem.weights import load_weights

    try:
        tensors, metadata = load_weights(args.input)
    except FileNotFoundError as e:  # the CLI prints a ValueError's message instead of a traceback
        raise ValueError(str(e)) from None
    given = {option: getattr(args, option) for option in OPTIONS if getattr(args, option) is not None}
    resolve_options(args, metadata)
    target = _target(args)
    if Path(args.output).resolve() == Path(args.input).resolve():
        raise ValueError(f"OUTPUT is INPUT ({args.input!r}): the converted file would overwrite the original")
    if not Path(args.output).parent.is_dir():
        raise ValueError(f"OUTPUT's directory does not exist. Received: {args.output!r}")
    # Every conversion builds the torch layer; Keras' side, and the canonical side (the registry twins), need TF.
    for fw in ("torch", "tf") if "keras" in (args.source, target) else ("torch",):
        if unavailable(fw):
            raise ValueError(unavailable(fw))
    if target == "canonical":
        from twinmem.weights import save_weights

        model, config, weights = to_canonical(tensors, args)
        config = restore_config(model, config, metadata, args)
        save_weights(args.output, weights, model, config)
        print(f"wrote {len(weights)} canonical tensors of {model} {config} to {args.output}")
        return 0
    if args.source == "canonical":
        model, canonical_config = canonical_model(metadata, args)
        for option, value in given.items():  # the config set them; one the command line gave must agree
            if getattr(args, option) != value:
                flag = "--" + option.replace("_", "-")
                raise ValueError(
                    f"{flag} {value} contradicts the canonical file, whose config gives {option} = {getattr(args, option)!r}"
                )
        out = from_canonical(tensors, model, canonical_config, args)
    else:
        out = convert_tensors(tensors, args)
    written = {
        "twinmem.layout": target,
        "twinmem.layer": describe(args),
        "twinmem.from": json.dumps(args.input),
        # So that converting back needs no options, and a canonical config's fields that no weight
        # holds (causal, path, dropout) come back: see resolve_options and restore_config.
        "twinmem.options": json.dumps({option: getattr(args, option) for option in OPTIONS}),
    }
    if args.source == "canonical":
        written["twinmem.canonical_model"] = metadata.get("twinmem.model", args.model)
        written["twinmem.canonical_config"] = json.dumps(dataclasses.asdict(canonical_config))
    else:  # torch <-> keras: what the input file kept of a canonical origin travels on
        for key in ("twinmem.canonical_model", "twinmem.canonical_config"):
            if key in metadata:
                written[key] = metadata[key]
    save_file({n: np.ascontiguousarray(t) for n, t in out.items()}, args.output, metadata=written)
    print(f"wrote {len(out)} {target} tensors of {describe(args)} to {args.output}")
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
