"""Registry entries of the decoder-only transformer: canonical weight shapes, example inputs, FLOPs, variants.

The configs (LayerNorm epsilon is a field of them, default 1e-5), the shared constants (the GELU form)
and the input checks are ``twinmem.configs.transformer``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from twinmem.configs.attention import PATHS
from twinmem.configs.transformer import MLP_RATIO, TinyGPTConfig, TransformerBlockConfig, block_of
from twinmem.entry import ModelEntry
from twinmem.reference import transformer as ref
from twinmem.specs.attention import _mask
from twinmem.weights import Shapes

ENTRIES: list[ModelEntry] = []  # gathered, in this order, by twinmem.registry


def block_shapes(c: TransformerBlockConfig, prefix: str = "") -> Shapes:
    D, inner, hidden = c.d_model, c.num_heads * c.head_dim, MLP_RATIO * c.d_model
    return {
        f"{prefix}ln_1.gamma": (D,),
        f"{prefix}ln_1.beta": (D,),
        f"{prefix}attention.W_q": (D, inner),
        f"{prefix}attention.b_q": (inner,),
        f"{prefix}attention.W_k": (D, inner),
        f"{prefix}attention.b_k": (inner,),
        f"{prefix}attention.W_v": (D, inner),
        f"{prefix}attention.b_v": (inner,),
        f"{prefix}attention.W_o": (inner, D),
        f"{prefix}attention.b_o": (D,),
        f"{prefix}ln_2.gamma": (D,),
        f"{prefix}ln_2.beta": (D,),
        f"{prefix}mlp.W_fc": (D, hidden),
        f"{prefix}mlp.b_fc": (hidden,),
        f"{prefix}mlp.W_proj": (hidden, D),
        f"{prefix}mlp.b_proj": (D,),
    }


def gpt_shapes(c: TinyGPTConfig) -> Shapes:
    shapes: Shapes = {"W_te": (c.vocab_size, c.d_model), "W_pe": (c.max_len, c.d_model)}
    for n in range(c.num_layers):
        shapes.update(block_shapes(block_of(c), f"blocks.{n}."))
    shapes.update({"ln_f.gamma": (c.d_model,), "ln_f.beta": (c.d_model,)})
    if not c.tie_embeddings:
        shapes["W_head"] = (c.d_model, c.vocab_size)
    return shapes


def block_flops(c: TransformerBlockConfig, B: int, T: int, kv_len: int | None = None) -> int:
    """Matmul FLOPs of one block on T new positions attending over kv_len (default T) keys."""
    kv_len = T if kv_len is None else kv_len
    inner = c.num_heads * c.head_dim
    projections = 2 * B * T * c.d_model * inner * 4  # W_q, W_k, W_v, W_o
    attention = 2 * B * c.num_heads * T * kv_len * c.head_dim * 2  # q k^T and weights @ v
    mlp = 2 * B * T * c.d_model * MLP_RATIO * c.d_model * 2
    return projections + attention + mlp


def gpt_flops(c: TinyGPTConfig, x: Mapping[str, np.ndarray]) -> int:
    # The embeddings are lookups (no multiply-add); the head is a matmul.
    B, T = x["tokens"].shape
    return c.num_layers * block_flops(block_of(c), B, T) + 2 * B * T * c.d_model * c.vocab_size


def _block_inputs(config: TransformerBlockConfig, seed: int, batch: int = 3, steps: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((batch, steps, config.d_model)), "mask": _mask(rng, batch, steps)}


def _gpt_inputs(config: TinyGPTConfig, seed: int, batch: int = 3, steps: int = 6) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "tokens": rng.integers(0, config.vocab_size, (batch, steps)).astype(np.int64),
        "mask": _mask(rng, batch, steps),
    }


ENTRIES.append(
    ModelEntry(
        name="transformer_block",
        family="transformer",
        class_name="TransformerBlock",
        config=TransformerBlockConfig,
        weight_shapes=block_shapes,
        example_inputs=_block_inputs,
        reference=ref.transformer_block,
        outputs=("output",),
        flops=lambda c, x: block_flops(c, *x["x"].shape[:2]),
        variants={"default": {}, "fused": {"path": "fused"}},
        bench_shapes={
            "quick": [
                (f"{p} B8 T64 D128 H4", dict(d_model=128, num_heads=4, head_dim=32, path=p), dict(batch=8, steps=64))
                for p in PATHS
            ],
            "full": [
                (f"{p} B8 T{t} D256 H4", dict(d_model=256, num_heads=4, head_dim=64, path=p), dict(batch=8, steps=t))
                for t in (64, 128, 256, 512)
                for p in PATHS
            ],
        },
        summary="pre-LayerNorm GPT decoder block: causal multi-head self-attention and a 4x GELU MLP",
    )
)

ENTRIES.append(
    ModelEntry(
        name="tiny_gpt",
        family="transformer",
        class_name="TinyGPT",
        config=TinyGPTConfig,
        weight_shapes=gpt_shapes,
        example_inputs=_gpt_inputs,
        reference=ref.tiny_gpt,
        outputs=("logits",),
        flops=gpt_flops,
        variants={"default": {}, "untied": {"tie_embeddings": False}, "fused": {"path": "fused"}},
        bench_shapes={
            "quick": [
                (
                    f"{p} V256 D128 N2 B4 T64",
                    dict(vocab_size=256, max_len=64, d_model=128, num_heads=4, head_dim=32, num_layers=2, path=p),
                    dict(batch=4, steps=64),
                )
                for p in PATHS
            ],
            "full": [
                (
                    f"V1024 D256 N4 B8 T{t}",
                    dict(vocab_size=1024, max_len=t, d_model=256, num_heads=4, head_dim=64, num_layers=4),
                    dict(batch=8, steps=t),
                )
                for t in (128, 256, 512, 1024, 2048)
            ]
            + [
                # GPT-2 small itself (124M parameters), one sequence of its full window: what a converted
                # checkpoint costs (twinmem convert --from hf).
                (
                    f"{p} gpt2-small V50257 D768 N12 H12 B1 T1024",
                    dict(vocab_size=50257, max_len=1024, d_model=768, num_heads=12, head_dim=64, num_layers=12, path=p),
                    dict(batch=1, steps=1024),
                )
                for p in PATHS
            ],
        },
        summary="GPT-style decoder: token and position embeddings, N blocks, final LayerNorm, (tied) LM head",
    )
)
