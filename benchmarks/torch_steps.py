"""Build a timed torch step for a benchmark case."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from torch_impl.core import from_numpy
from twinmem import interop
from twinmem.weights import cast_to

RECURRENT_BUILTINS = {"nn.RNN": "rnn", "nn.LSTM": "lstm", "nn.GRU": "gru"}


def sync(device: str) -> None:
    # CUDA runs asynchronously: a clock read without this times the launch, not the work.
    if device == "gpu":
        torch.cuda.synchronize()


def reset_peak_memory(device: str) -> None:
    if device == "gpu":
        torch.cuda.reset_peak_memory_stats()


def peak_memory(device: str) -> int | None:
    """Peak bytes the allocator handed out since the reset; None on CPU (not measured there)."""
    return torch.cuda.max_memory_allocated() if device == "gpu" else None


def gemm_step(n: int, device: str, mode: str = "eager", dtype: str = "float32"):
    if mode != "eager":  # one matmul: torch.compile would only call the same kernel
        raise ValueError(f"The torch GEMM is timed eagerly. Received: mode={mode!r}")
    dev = "cuda" if device == "gpu" else "cpu"
    a, b = (torch.randn(n, n, device=dev, dtype=getattr(torch, dtype)) for _ in range(2))

    def step():
        torch.matmul(a, b)
        sync(device)

    return step


def builtin_or_twin(case, entry, config, weights, dev: str = "cpu"):
    """(callable taking the case's inputs and returning a tuple, its parameters) for ``case.impl``."""
    if case.impl == "twin":
        model = entry.build("torch", config, case.dtype, weights).to(dev)
        return model, list(model.parameters())
    if case.impl == "nn.MultiheadAttention":
        mha = interop.mha_to_torch(weights, config).to(dev)

        def call(query, key, value, mask):
            T = key.shape[1]
            causal = torch.ones(T, T, dtype=torch.bool, device=dev).triu(1) if config.causal else None
            # torch's masks mean True = ignore; need_weights=False lets it take the fused kernel.
            return mha(query, key, value, key_padding_mask=~mask, attn_mask=causal, need_weights=False)

        return call, list(mha.parameters())
    if case.impl == "F.scaled_dot_product_attention":

        def call(query, key, value, mask):
            # As users call it, (B, heads, T, d): with 3-D inputs its CPU flash kernel is not taken (the
            # math path, 2.5x slower at B8 T256 d64), and the twin, which adds the head axis, would win.
            T = key.shape[1]
            m = mask[:, None, None, :]
            if config.causal:
                m = m & torch.ones(T, T, dtype=torch.bool, device=dev).tril()
            output = F.scaled_dot_product_attention(query[:, None], key[:, None], value[:, None], attn_mask=m)
            return (output[:, 0],)

        return call, []
    if case.impl in RECURRENT_BUILTINS:
        module = interop.recurrent_builtin(entry.name, config, weights, "torch").to(dev)

        def call(x, mask):
            # A padded batch the way torch users run one: packed to the valid lengths (the twin's mask),
            # which also gives the twin's zeros past each length. pack wants the lengths on the host.
            lengths = mask.sum(1).cpu()
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            output, _ = module(packed)
            return (pad_packed_sequence(output, batch_first=True, total_length=x.shape[1])[0],)

        return call, list(module.parameters())
    raise ValueError(f"unknown torch built-in {case.impl!r}")


def build(case, entry, config, weights, inputs: dict[str, np.ndarray]):
    """Return a no-argument step that runs the case once and waits for the device."""
    dev = "cuda" if case.device == "gpu" else "cpu"
    call, params = builtin_or_twin(case, entry, config, weights, dev)
    x = {
        n: (from_numpy(cast_to(v, case.dtype)) if v.dtype.kind == "f" else torch.as_tensor(v)).to(dev)
        for n, v in inputs.items()
    }
    if case.mode == "compile":
        call = torch.compile(call)
    if case.pass_ == "forward":

        def step():
            with torch.inference_mode():
                call(**x)
            sync(case.device)

        return step
    sources = params + [t.requires_grad_() for t in x.values() if t.is_floating_point()]

    def step():
        outputs = call(**x)
        loss = sum(o.sum() for o in outputs if o is not None and o.is_floating_point())
        torch.autograd.grad(loss, sources, allow_unused=True)
        sync(case.device)

    return step


def generation_step(case, entry, config, weights, inputs: dict[str, np.ndarray]):
    """prefill: forward over the whole context, writing the caches; decode_cached: one token over
    caches holding context - 1 positions (the write index is reset before each step, so every step
    runs at the same context); decode_uncached: the full forward over the context for one token."""
    dev = "cuda" if case.device == "gpu" else "cpu"
    model = entry.build("torch", config, "float32", weights).to(dev)
    tokens = torch.as_tensor(inputs["tokens"], device=dev)
    B, T = tokens.shape
    caches = model.init_cache(B)

    def prefill():
        for c in caches:
            c.length.zero_()
        return model(tokens, caches=caches)

    def decode_cached():
        for c in caches:
            c.length.fill_(T - 1)
        return model(tokens[:, -1:], caches=caches)

    def decode_uncached():
        return model(tokens)

    fn = {"prefill": prefill, "decode_cached": decode_cached, "decode_uncached": decode_uncached}[case.pass_]
    if case.mode == "compile":
        fn = torch.compile(fn, dynamic=False)
    with torch.inference_mode():
        prefill()  # the caches hold the context before any decode step

    def step():
        with torch.inference_mode():
            fn()
        sync(case.device)

    return step
