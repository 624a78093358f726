"""`twinmem generate`: decode from a language-model twin, and check that the twins agree token for token.

Both twins load the same canonical weights (random, from ``--seed``, or a safetensors file from
``twinmem train --out``) and continue the same prompt. With ``--framework both`` every way of decoding
runs (each twin with the KV cache and without it) and the command exits 1 unless all agree.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from twinmem import registry
from twinmem.frameworks import unavailable
from twinmem.weights import config_from_metadata, load_weights

MODELS = ("tiny_gpt",)  # the registry models whose twins have `generate`


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("generate", help="generate tokens with a language-model twin (KV cache, greedy/sampled)")
    p.add_argument("--model", default="tiny_gpt", choices=MODELS, help="a registry model with `generate`")
    p.add_argument("--framework", choices=["tf", "torch", "both"], default="both")
    p.add_argument("--prompt-len", type=int, default=3, help="prompt steps (default 3)")
    p.add_argument("--new-tokens", type=int, default=5, help="tokens to generate (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, the prompt and the uniforms")
    p.add_argument("--batch", type=int, default=2, help="prompts decoded together (default 2)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--weights", metavar="PATH", help="canonical safetensors weights (their config is in the file)")
    p.add_argument("--graph", action="store_true", help="cached decoding in tf.function / torch.compile (slow start)")
    p.set_defaults(func=cmd_generate)
    return p


def cmd_generate(args: argparse.Namespace) -> int:

    entry = registry.get(args.model)
    if args.weights:
        weights, metadata = load_weights(args.weights)
        if metadata.get("twinmem.model") != args.model:
            raise ValueError(f"{args.weights!r} holds weights of {metadata.get('twinmem.model')!r}, not {args.model!r}")
        config = config_from_metadata(entry.config, metadata, repr(args.weights))
    else:
        config = entry.make_config()
        weights = entry.random_weights(config, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    prompt = rng.integers(0, config.vocab_size, (args.batch, args.prompt_len)).astype(np.int64)
    uniforms = rng.random((args.batch, args.new_tokens)) if args.temperature > 0 else None
    frameworks = ["tf", "torch"] if args.framework == "both" else [args.framework]
    for fw in frameworks:
        if unavailable(fw):
            raise ValueError(unavailable(fw))
    if args.batch < 1:
        raise ValueError(f"Expected --batch >= 1. Received: {args.batch}")
    if args.prompt_len + args.new_tokens <= config.max_len:  # else the twins' own error says why, and no prompt
        print(f"prompt: {prompt.tolist()}")
    results = {}
    for fw in frameworks:
        model = entry.build(fw, config, "float32", weights)
        for use_cache in (True, False) if args.framework == "both" else (True,):
            label = f"{fw} {'cached' if use_cache else 'uncached'}{' graph' if args.graph and use_cache else ''}"
            start = time.perf_counter()
            tokens = model.generate(
                prompt,
                args.new_tokens,
                temperature=args.temperature,
                top_k=args.top_k,
                uniforms=uniforms,
                use_cache=use_cache,
                graph=args.graph and use_cache,
            )
            results[label] = np.asarray(tokens)[:, args.prompt_len :]
            print(f"{label:22s} {results[label].tolist()}  ({time.perf_counter() - start:.2f} s)")
    first = next(iter(results.values()))
    disagree = [label for label, tokens in results.items() if not np.array_equal(tokens, first)]
    if disagree:
        print(f"DISAGREE: {', '.join(disagree)} differ from {next(iter(results))}")
        return 1
    if len(results) > 1:
        print(f"all {len(results)} decodings agree token for token")
    return 0
