"""`twinmem generate`: decode from a language-model twin, and check that the twins agree token for token.

Both twins load the same canonical weights (random, from ``--seed``, or a safetensors file from
``twinmem train --out`` or ``twinmem convert --from hf``) and continue the same prompt: random ids from
``--seed``, or the ids of ``--prompt-ids`` (a tokenizer's output, e.g. GPT-2's for a converted GPT-2). With
``--framework both`` every way of decoding runs (each twin with the KV cache and without it) and the
command exits 1 unless all agree. New tokens are limited only by the window: prompt + new <= max_len.
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
    p.add_argument("--prompt-len", type=int, help="random prompt steps (default 3)")
    p.add_argument(
        "--prompt-ids", metavar="IDS", help='one prompt as comma-separated token ids, e.g. "15496,11,995" (batch 1)'
    )
    p.add_argument("--new-tokens", type=int, default=5, help="tokens to generate (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, the prompt and the uniforms")
    p.add_argument("--batch", type=int, help="random prompts decoded together (default 2)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--weights", metavar="PATH", help="canonical safetensors weights (their config is in the file)")
    p.add_argument("--graph", action="store_true", help="cached decoding in tf.function / torch.compile (slow start)")
    p.set_defaults(func=cmd_generate)
    return p


def parse_prompt_ids(text: str, vocab_size: int, max_len: int) -> np.ndarray:
    """``--prompt-ids "15496,11,995"`` -> one prompt (1, T) int64, each id in [0, vocab_size), T <= max_len."""
    try:
        ids = [int(p) for p in text.split(",")]
    except ValueError:
        raise ValueError(
            f"Expected --prompt-ids as comma-separated integer token ids, e.g. 15496,11,995. Received: {text!r}"
        ) from None
    bad = [i for i in ids if not 0 <= i < vocab_size]
    if bad:
        raise ValueError(f"Expected --prompt-ids in [0, vocab_size = {vocab_size}). Received: id {bad[0]} in {text!r}")
    if len(ids) > max_len:
        raise ValueError(
            f"Expected --prompt-ids of at most max_len = {max_len} ids (the context window). Received: {len(ids)}"
        )
    return np.asarray([ids], np.int64)


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
    if args.prompt_ids is not None:
        prompt = parse_prompt_ids(args.prompt_ids, config.vocab_size, config.max_len)
        for option, value, implied in (("--batch", args.batch, 1), ("--prompt-len", args.prompt_len, prompt.shape[1])):
            if value is not None and value != implied:
                raise ValueError(
                    f"{option} {value} contradicts --prompt-ids (one prompt of {prompt.shape[1]} ids); leave it out"
                )
        batch, prompt_len = prompt.shape
    else:
        batch = 2 if args.batch is None else args.batch
        prompt_len = 3 if args.prompt_len is None else args.prompt_len
        prompt = rng.integers(0, config.vocab_size, (max(batch, 0), max(prompt_len, 0))).astype(np.int64)
    uniforms = rng.random((batch, args.new_tokens)) if args.temperature > 0 else None
    frameworks = ["tf", "torch"] if args.framework == "both" else [args.framework]
    for fw in frameworks:
        if unavailable(fw):
            raise ValueError(unavailable(fw))
    if batch < 1:
        raise ValueError(f"Expected --batch >= 1. Received: {batch}")
    if prompt_len + args.new_tokens <= config.max_len:  # else the twins' own error says why, and no prompt
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
            results[label] = np.asarray(tokens)[:, prompt_len:]
            print(f"{label:22s} {results[label].tolist()}  ({time.perf_counter() - start:.2f} s)")
    first = next(iter(results.values()))
    disagree = [label for label, tokens in results.items() if not np.array_equal(tokens, first)]
    if disagree:
        print(f"DISAGREE: {', '.join(disagree)} differ from {next(iter(results))}")
        return 1
    if len(results) > 1:
        print(f"all {len(results)} decodings agree token for token")
    return 0
