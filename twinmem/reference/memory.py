"""NumPy float64 reference of the memory-network family: the oracle that says which twin is wrong.

Written in ``autograd.numpy`` (NumPy with exact reverse-mode gradients), functional style (no
in-place writes: lists and ``np.stack``), statement for statement like the twins. Every function
returns ``(outputs, intermediates)``; the intermediates carry the same names as the twins'.
Token id 0 is padding throughout (see ``twinmem.configs.memory``).
"""

from __future__ import annotations

from collections.abc import Mapping

from twinmem.configs.memory import (
    NTM_EPS,
    NTM_FIXED_MEMORY,
    KVMemoryNetworkConfig,
    MemN2NConfig,
    NTMConfig,
    SeedMemoryNetworkConfig,
    position_encoding,
)
from twinmem.reference.attention import masked_softmax
from twinmem.reference.backend import Array, np
from twinmem.reference.rnn import lstm_cell


def sigmoid(x: Array) -> Array:
    # tanh form: no overflow of exp(-x) for very negative x.
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


def softplus(x: Array) -> Array:
    # max(x, 0) + log1p(exp(-|x|)): exact for every x, written out the same way on all three sides
    # (torch's F.softplus switches to x above a threshold, which differs by exp(-20) there).
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def softmax(x: Array) -> Array:
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def lstm_step(w: Mapping[str, Array], prefix: str, x_t: Array, h_tm1: Array, c_tm1: Array) -> tuple[Array, Array]:
    """One step of the LSTM cell of ``twinmem.reference.rnn`` whose weights are ``prefix``-named in w."""
    cell = {n: w[prefix + n] for n in ("W_ih", "W_hh", "b")}
    (h_t, c_t), _ = lstm_cell(cell, x_t, (h_tm1, c_tm1))
    return h_t, c_t


def lstm_encode(w: Mapping[str, Array], prefix: str, x: Array, valid: Array) -> Array:
    """Final state of an LSTM over x (B, T, D); a padded step (valid False) carries the state through."""
    B, T, _ = x.shape
    H = w[prefix + "W_hh"].shape[0]
    h_t, c_t = np.zeros((B, H)), np.zeros((B, H))
    for t in range(T):
        h_new, c_new = lstm_step(w, prefix, x[:, t], h_t, c_t)
        h_t = np.where(valid[:, t, None], h_new, h_t)
        c_t = np.where(valid[:, t, None], c_new, c_t)
    return h_t


def seed_memory_network(
    w: Mapping[str, Array], config: SeedMemoryNetworkConfig, query: Array, memory_indices: Array
) -> tuple[tuple[Array, ...], dict[str, Array]]:
    query_embedding = w["embedding"][query]  # (B, Tq, E)
    query_encoded = lstm_encode(w, "encoder.", query_embedding, query != 0)  # (B, H)
    memory_embeddings = w["embedding"][memory_indices]  # (B, Tm, E)
    memory_encoded = lstm_encode(w, "encoder.", memory_embeddings, memory_indices != 0)  # (B, H)
    output = (query_encoded + memory_encoded) @ w["W_d"] + w["b_d"]  # (B, O)
    mids = {
        "query_embedding": query_embedding,
        "query_encoded": query_encoded,
        "memory_embeddings": memory_embeddings,
        "memory_encoded": memory_encoded,
    }
    return (output,), mids


def encode_sentences(embedding: Array, ids: Array, l: Array) -> Array:
    """sum_j l_j * embedding[x_j] over the unpadded words: ids (..., S) -> (..., d)."""
    word_mask = (ids != 0)[..., None]  # (..., S, 1)
    return np.sum(np.where(word_mask, l * embedding[ids], 0.0), axis=-2)


def memn2n_matrices(
    w: Mapping[str, Array], config: MemN2NConfig
) -> tuple[list[Array], list[Array], Array, Array | None, list[Array] | None, list[Array] | None]:
    """Per-hop A^k, C^k (and T_A^k, T_C^k), B and W^T under the configured weight tying."""
    K = config.hops
    if config.tying == "adjacent":
        E = w["E"]
        A, C, B, W_T = [E[k] for k in range(K)], [E[k + 1] for k in range(K)], E[0], E[K]
        T_A, T_C = (
            ([w["T_E"][k] for k in range(K)], [w["T_E"][k + 1] for k in range(K)]) if config.temporal else (None, None)
        )
    else:
        A, C, B, W_T = [w["A"]] * K, [w["C"]] * K, w["B"], None
        T_A, T_C = ([w["T_A"]] * K, [w["T_C"]] * K) if config.temporal else (None, None)
    return A, C, B, W_T, T_A, T_C


def memn2n(
    w: Mapping[str, Array], config: MemN2NConfig, stories: Array, query: Array
) -> tuple[tuple[Array, ...], dict[str, Array]]:
    c = config
    l = position_encoding(c.sentence_len, c.embedding_dim, c.encoding)  # (S, d)
    slot_mask = np.any(stories != 0, axis=-1)  # (B, M)
    A, C, B, W_T, T_A, T_C = memn2n_matrices(w, c)
    u_k = encode_sentences(B, query, l)  # (B, d)
    mids, p_hops = {}, []
    for k in range(c.hops):
        m_i = encode_sentences(A[k], stories, l)  # (B, M, d)
        c_i = encode_sentences(C[k], stories, l)  # (B, M, d)
        if c.temporal:
            assert T_A is not None and T_C is not None  # memn2n_matrices gives them when temporal
            m_i = m_i + T_A[k]
            c_i = c_i + T_C[k]
        scores = (m_i @ u_k[:, :, None])[..., 0]  # (B, M)
        p = np.where(slot_mask, scores, 0.0) if c.linear_start else masked_softmax(scores, slot_mask)  # (B, M)
        o = (p[:, None, :] @ c_i)[:, 0]  # (B, d)
        mids.update({f"u_{k + 1}": u_k, f"m_{k + 1}": m_i, f"c_{k + 1}": c_i, f"p_{k + 1}": p, f"o_{k + 1}": o})
        p_hops.append(p)
        u_k = (u_k + o) if c.tying == "adjacent" else (u_k @ w["H"] + o)
    mids[f"u_{c.hops + 1}"] = u_k
    if c.tying == "adjacent":
        assert W_T is not None  # memn2n_matrices gives it under adjacent tying
        logits = u_k @ W_T.T  # (B, V)
    else:
        logits = u_k @ w["W"]  # (B, V)
    return (logits, np.stack(p_hops, axis=1)), mids


def kv_memory_network(
    w: Mapping[str, Array], config: KVMemoryNetworkConfig, query: Array, keys: Array, values: Array
) -> tuple[tuple[Array, ...], dict[str, Array]]:
    l = np.ones((1, config.embedding_dim))  # bag of words
    slot_mask = np.any(keys != 0, axis=-1)  # (B, M)
    k_h = encode_sentences(w["A"], keys, l)  # (B, M, d)
    v_h = encode_sentences(w["A"], values, l)  # (B, M, d)
    q_j = encode_sentences(w["A"], query, l)  # (B, d)
    mids, p_hops = {"k_h": k_h, "v_h": v_h}, []
    for j in range(config.hops):
        scores = (k_h @ q_j[:, :, None])[..., 0]  # (B, M)
        p = masked_softmax(scores, slot_mask)  # (B, M)
        o = (p[:, None, :] @ v_h)[:, 0]  # (B, d)
        mids.update({f"q_{j + 1}": q_j, f"p_{j + 1}": p, f"o_{j + 1}": o})
        p_hops.append(p)
        q_j = (q_j + o) @ w["R"][j]  # (B, d)
    mids[f"q_{config.hops + 1}"] = q_j
    logits = q_j @ w["B"].T  # (B, V): similarity to every single-token candidate B y
    return (logits, np.stack(p_hops, axis=1)), mids


def roll(w: Array, shift: int) -> Array:
    """roll(w, shift)[:, i] = w[:, i - shift mod N] for shift in {-1, 1}, by concatenation."""
    if shift == 1:
        return np.concatenate([w[:, -1:], w[:, :-1]], axis=1)
    return np.concatenate([w[:, 1:], w[:, :1]], axis=1)


def ntm_address(
    memory: Array, w_tm1: Array, k: Array, beta_hat: Array, g_hat: Array, s_hat: Array, gamma_hat: Array
) -> tuple[Array, Array]:
    """Content then location addressing (Graves et al. 2014, section 3.3); returns (w_t, w_c)."""
    beta = softplus(beta_hat)  # (B,) >= 0
    g = sigmoid(g_hat)  # (B,) in (0, 1)
    s = softmax(s_hat)  # (B, 3) over shifts -1, 0, +1
    gamma = 1.0 + softplus(gamma_hat)  # (B,) >= 1
    norm_memory = np.sqrt(np.sum(memory**2, axis=-1) + NTM_EPS)  # (B, N)
    norm_k = np.sqrt(np.sum(k**2, axis=-1) + NTM_EPS)  # (B,)
    K = (memory @ k[:, :, None])[..., 0] / (norm_memory * norm_k[:, None])  # (B, N)
    w_c = softmax(beta[:, None] * K)  # (B, N)
    w_g = g[:, None] * w_c + (1.0 - g[:, None]) * w_tm1  # (B, N)
    w_s = s[:, 0:1] * roll(w_g, -1) + s[:, 1:2] * w_g + s[:, 2:3] * roll(w_g, 1)  # (B, N)
    # w^gamma / sum w^gamma = softmax(gamma log w): no power of 0, no division by 0.
    w_t = softmax(gamma[:, None] * np.log(w_s + NTM_EPS))  # (B, N)
    return w_t, w_c


def ntm(w: Mapping[str, Array], config: NTMConfig, x: Array) -> tuple[tuple[Array, ...], dict[str, Array]]:
    c = config
    B, T, _ = x.shape
    N, M, H = c.memory_slots, c.memory_width, c.controller_size
    if c.memory_init == "learned":
        memory = w["M_0"][None] + np.zeros((B, 1, 1))  # (B, N, M)
    else:
        memory = np.full((B, N, M), NTM_FIXED_MEMORY)
    h_t, c_t = np.zeros((B, H)), np.zeros((B, H))
    w_read = np.concatenate([np.ones((B, 1)), np.zeros((B, N - 1))], axis=1)  # heads start on slot 0
    w_write = np.concatenate([np.ones((B, 1)), np.zeros((B, N - 1))], axis=1)
    r_t = (w_read[:, None, :] @ memory)[:, 0]  # (B, M)
    steps: dict[str, list[Array]] = {
        n: [] for n in ("h", "w_c_read", "read_weights", "r", "w_c_write", "write_weights", "e", "a", "memory", "y")
    }
    for t in range(T):
        controller_input = np.concatenate([x[:, t], r_t], axis=-1)  # (B, I + M)
        if c.controller == "lstm":
            h_t, c_t = lstm_step(w, "controller.", controller_input, h_t, c_t)
        else:
            h_t = np.tanh(controller_input @ w["controller.W"] + w["controller.b"])
        P = h_t @ w["W_read"] + w["b_read"]  # (B, M + 6)
        w_read, w_c_read = ntm_address(memory, w_read, P[:, :M], P[:, M], P[:, M + 1], P[:, M + 2 : M + 5], P[:, M + 5])
        r_t = (w_read[:, None, :] @ memory)[:, 0]  # (B, M)
        Q = h_t @ w["W_write"] + w["b_write"]  # (B, 3M + 6)
        w_write, w_c_write = ntm_address(
            memory, w_write, Q[:, :M], Q[:, M], Q[:, M + 1], Q[:, M + 2 : M + 5], Q[:, M + 5]
        )
        e = sigmoid(Q[:, M + 6 : 2 * M + 6])  # (B, M)
        a = Q[:, 2 * M + 6 :]  # (B, M)
        memory = memory * (1.0 - w_write[:, :, None] * e[:, None, :]) + w_write[:, :, None] * a[:, None, :]
        y_t = np.concatenate([h_t, r_t], axis=-1) @ w["W_out"] + w["b_out"]  # (B, O)
        for n, v in zip(steps, (h_t, w_c_read, w_read, r_t, w_c_write, w_write, e, a, memory, y_t), strict=True):
            steps[n].append(v)
    mids = {n: np.stack(v, axis=1) for n, v in steps.items()}
    return (mids["y"], mids["read_weights"], mids["write_weights"]), mids
