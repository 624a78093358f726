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
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping

import numpy as np

LAYERS = ("rnn", "lstm", "gru", "mha", "linear", "embedding")
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
    p.add_argument("--from", dest="source", choices=["torch", "keras"], required=True, help="layout of INPUT")
    p.add_argument("--to", dest="target", choices=["torch", "keras"], help="layout of OUTPUT (default: the other)")
    p.add_argument("--layer", choices=LAYERS, required=True, help="the built-in layer the weights belong to")
    p.add_argument("--name", help="Keras layer name, which prefixes the variable paths (default: the --layer kind)")
    g = p.add_argument_group("rnn / lstm / gru (nn.RNN, nn.LSTM, nn.GRU <-> SimpleRNN, LSTM, GRU)")
    g.add_argument("--input-size", type=int, help="H_in, the features of each input step")
    g.add_argument("--hidden-size", type=int, help="H, torch's hidden_size, Keras' units")
    g.add_argument("--num-layers", type=int, default=1, help="stacked layers (default: 1)")
    g.add_argument("--bidirectional", action="store_true", help="both directions, concatenated")
    g.add_argument("--nonlinearity", choices=["tanh", "relu"], default="tanh", help="rnn only (default: tanh)")
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
    p.add_argument("--no-bias", action="store_true", help="the layer has no biases (rnn, lstm, gru, mha, linear)")
    p.add_argument("input", metavar="INPUT", help="safetensors file in the --from layout")
    p.add_argument("output", metavar="OUTPUT", help="safetensors file to write in the --to layout")
    p.set_defaults(func=cmd_convert)
    return p


def build_torch(args: argparse.Namespace, dtype: str = "float32"):
    """The torch module the options describe (fresh weights), in ``dtype``."""
    import torch

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


def convert_tensors(tensors: Mapping[str, np.ndarray], args: argparse.Namespace) -> dict[str, np.ndarray]:
    """Weights of the layer ``args`` describes, from the ``args.source`` layout to ``args.target``'s."""
    import torch

    from twinmem import interop

    target = args.target or ("keras" if args.source == "torch" else "torch")
    if target == args.source:
        raise ValueError(f"--from and --to are the same layout. Received: {args.source}")
    name = args.name or args.layer
    module = build_torch(args, _dtype_of(tensors))
    if args.source == "torch":
        expected = {n: tuple(p.shape) for n, p in module.state_dict().items()}
        check_tensors(tensors, expected, f"the torch state_dict of {describe(args)}")
        module.load_state_dict({n: torch.as_tensor(np.ascontiguousarray(t)) for n, t in tensors.items()})
        layer = interop.torch_to_keras(module, name=name)
        return {v.path: np.asarray(v.numpy()) for v in layer.weights}
    # A layer made from a fresh module has the names and shapes; its values are then replaced.
    layer = interop.torch_to_keras(module, name=name)
    variables = {v.path: v for v in layer.weights}
    check_tensors(
        tensors, {n: tuple(v.shape) for n, v in variables.items()}, f"the Keras variables of {describe(args)}"
    )
    for n, v in variables.items():
        v.assign(tensors[n])
    return {n: p.detach().numpy().copy() for n, p in interop.keras_to_torch(layer).state_dict().items()}


def cmd_convert(args: argparse.Namespace) -> int:
    from safetensors.numpy import save_file

    from twinmem.weights import load_weights

    try:
        tensors, _ = load_weights(args.input)
    except FileNotFoundError as e:  # the CLI prints a ValueError's message instead of a traceback
        raise ValueError(str(e)) from None
    out = convert_tensors(tensors, args)
    target = args.target or ("keras" if args.source == "torch" else "torch")
    metadata = {"twinmem.layout": target, "twinmem.layer": describe(args), "twinmem.from": json.dumps(args.input)}
    save_file({n: np.ascontiguousarray(t) for n, t in out.items()}, args.output, metadata=metadata)
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
