"""Memory-network twins, PyTorch side. Twin of ``tf_impl/memory.py``: read them side by side.

Token id 0 is padding in every model here: a padded word adds nothing to its sentence, and a
memory slot whose words are all padding gets exactly zero attention. Masks are derived from the
ids, True = valid (the project's convention). Every forward takes ``return_intermediates``; when
True it returns ``(outputs, intermediates)`` named as in ``twinmem.reference.memory``.
Constants built in a forward (initial states, memory) come from ``x.new_*``: the input's dtype and device.

Precision (float32 and float64: every step in the dtype). In bfloat16 and float16 every tensor a model
hands on (intermediates, outputs, the NTM's carried state) is stored in the dtype, and each step computes
in float32 from 16-bit values and rounds its result once; both twins make the same choices, stated here.
Matmuls and inner products (the scores u_k^T m_i, the reads sum_i p_i c_i and w^T M, every projection with
its bias) go through ``core.matmul``: float32 sums, the bias inside, rounded once. A sentence's encoding
sum_j l_j A x_j (plus T_A(i) when temporal) is summed over the words in float32 and rounded once. Softmax
runs in float32 (the attention family's ``masked_softmax``: padded slots at the dtype's finite minimum,
the weights rounded once). Adding two 16-bit tensors (u_k + o_k, q_j + o, q + m) rounds once. A weight read
in several places (a tied embedding, H at every hop, the NTM's heads and feed-forward controller at every
step) is upcast once per forward, so that its gradient, a sum over those places, the batch and a token's
occurrences, is summed in float32 and rounded once; embedding rows are looked up in that copy (exactly).
The NTM: one head's addressing is one float32 step from the 16-bit memory, previous weighting and head
parameters, which rounds w^c and w_t once: the squares and norms sqrt(|u|^2 + eps) (eps = ``NTM_EPS`` = 1e-8
is 0 in float16, under its least subnormal 6e-8, and a square under 3e-8 vanishes there too), the cosine,
beta, g, s, gamma, the interpolation, the circular shift and the sharpening softmax(gamma log(w + eps)).
e = sigmoid(e_hat), the erase and add M_{t-1} (1 - w e^T) + w a^T and the feed-forward controller's
tanh(x W + b) each run in float32 and round once; the LSTM (the seed's encoder, the NTM's controller) is
``rnn.LSTMCell`` under the rnn family's rule. The carried state (M_t, both heads' w_t, r_t, h_t, c_t) is
thus rounded once per step, as a 16-bit model stores it, so its error grows with T (a random walk of one
rounding per step); M_{t-1} is upcast once per step, so that its gradient, over the step's four uses, is
summed in float32 and rounded once. Constants (the position encoding l, the fixed M_0 = 1e-6) are rounded
once from float64 to the dtype (``twinmem.weights.cast_to``), not through float32 as the frameworks' own
casts round them.
"""

from __future__ import annotations

import torch

from torch_impl.attention import masked_softmax
from torch_impl.core import Twin, check_tensors, embed, from_numpy, known_values, matmul, upcast, weight
from torch_impl.rnn import LSTMCell
from twinmem.checks import dtype_name
from twinmem.configs.memory import (
    NTM_EPS,
    NTM_FIXED_MEMORY,
    KVMemoryNetworkConfig,
    MemN2NConfig,
    NTMConfig,
    SeedMemoryNetworkConfig,
    check_kv_inputs,
    check_memn2n_config,
    check_memn2n_inputs,
    check_ntm_config,
    check_ntm_inputs,
    check_seed_inputs,
    ntm_head_sizes,
    position_encoding,
)
from twinmem.weights import cast_to


def sigmoid(x):
    # tanh form, as the reference writes it (no overflow of exp(-x)).
    return 0.5 * (torch.tanh(0.5 * x) + 1.0)


def softplus(x):
    # max(x, 0) + log1p(exp(-|x|)) on all three sides: F.softplus switches to x above a threshold.
    return torch.clamp(x, min=0.0) + torch.log1p(torch.exp(-torch.abs(x)))


class FeedForwardCell(Twin):
    r"""The NTM's feed-forward controller: :math:`h_t = \tanh(x_t W + b)`, W (D, H).

    Call arguments:
        x_t: (B, D). step_weights: optional ``upcast_weights()``, made once by a caller that runs the
        cell over many steps (the module docstring); None: the step upcasts its own.

    Returns:
        h_t (B, H).
    """

    def __init__(self, input_dim: int, units: int, dtype: str = "float32"):
        super().__init__(dtype=dtype)
        self.W = weight((input_dim, units), dtype)
        self.b = weight((units,), dtype, "zeros")

    def upcast_weights(self):
        """(W, b) upcast once, for a caller that runs the cell over many steps (the module docstring)."""
        return upcast(self.W), upcast(self.b)

    def forward(self, x_t, step_weights=None):
        W, b = self.upcast_weights() if step_weights is None else step_weights
        # In float32 for a 16-bit x_t, h_t rounded once, as rnn.LSTMCell's step (the module docstring).
        return torch.tanh(torch.matmul(upcast(x_t), W) + b).to(x_t.dtype)


def lstm_encode(cell, x, valid):
    """Final state of an LSTM over x (B, T, D); a padded step (valid False) carries the state through."""
    B, T, _ = x.shape
    h_t = x.new_zeros((B, cell.hidden_size))
    c_t = x.new_zeros((B, cell.hidden_size))
    step_weights = cell.upcast_weights()  # once for all steps (rnn.LSTMCell; the rnn family's rule)
    for t in range(T):
        (h_new, c_new), _ = cell(x[:, t], (h_t, c_t), step_weights)
        h_t = torch.where(valid[:, t, None], h_new, h_t)
        c_t = torch.where(valid[:, t, None], c_new, c_t)
    return h_t


class SeedMemoryNetwork(Twin):
    r"""The seed article's ``MemoryNetwork`` (§5.2.3), made to run on batches.

    .. math::
        q = \mathrm{LSTM}(E[\mathrm{query}]), \quad m = \mathrm{LSTM}(E[\mathrm{memory}]), \quad
        \mathrm{output} = (q + m) W_d + b_d

    where E is one embedding shared by query and memory, the two LSTM runs share their weights, and
    q, m are the final hidden states (a padded step, id 0, carries the state through, so they are
    the states at the last real token). B = batch, Tq/Tm = query/memory tokens, E/H/O = embedding,
    hidden and output sizes, V = vocabulary (the seed's ``memory_size``).

    What it retrieves: nothing by address. The "memory" is one more token sequence, encoded exactly
    like the query and added to it; there is no similarity, no attention and no slot selection, so
    it cannot pick a fact out of a story. It is the baseline the addressed memories below improve on.

    Departs from the seed: the seed's ``nn.LSTM`` is sequence-first while its inputs are (B, T), so
    ``encoded[-1]`` took the last *batch element* of every time step and the output had shape
    (T, O); here the time axis is axis 1, the final state is taken per sequence, and the output is
    (B, O). Padding (id 0) is honoured. The LSTM has one bias (the seed's torch LSTM has two whose
    sum is this one).

    Args:
        config: ``SeedMemoryNetworkConfig`` (vocab_size, embedding_size, hidden_size, output_size).
        dtype: "float32", "float64", "bfloat16" or "float16" (precision: the module docstring).

    Call arguments:
        query: int (B, Tq), 0 = padding.
        memory_indices: int (B, Tm), 0 = padding.

    Returns:
        output (B, O), logits.
    """

    def __init__(self, config: SeedMemoryNetworkConfig, dtype: str = "float32"):
        super().__init__(dtype=dtype)
        self.config = c = config
        self.embedding = weight((c.vocab_size, c.embedding_size), dtype)
        self.W_d = weight((c.hidden_size, c.output_size), dtype)
        self.b_d = weight((c.output_size,), dtype, "zeros")
        # Sub-twins last: their weights follow the model's own in the canonical order.
        self.encoder = LSTMCell(c.embedding_size, c.hidden_size, dtype=dtype)

    def forward(self, query, memory_indices, return_intermediates=False):
        check_tensors(query=query, memory_indices=memory_indices)
        check_seed_inputs(self.config, query, memory_indices, known_values)
        dtype, embedding = self.embedding.dtype, upcast(self.embedding)  # upcast once (the module docstring)
        query_embedding = embed(embedding, query).to(dtype)  # (B, Tq, E)
        query_encoded = lstm_encode(self.encoder, query_embedding, query != 0)  # (B, H)
        memory_embeddings = embed(embedding, memory_indices).to(dtype)  # (B, Tm, E)
        memory_encoded = lstm_encode(self.encoder, memory_embeddings, memory_indices != 0)  # (B, H)
        output = matmul(query_encoded + memory_encoded, self.W_d, self.b_d)  # (B, O)
        mids = {
            "query_embedding": query_embedding,
            "query_encoded": query_encoded,
            "memory_embeddings": memory_embeddings,
            "memory_encoded": memory_encoded,
        }
        outputs = (output,)
        return (outputs, mids) if return_intermediates else outputs


def encode_sentences(embedding, ids, l, T=None):
    """sum_j l_j * embedding[x_j] over the unpadded words, plus T (the temporal encoding) if given:
    ids (..., S) -> (..., d). In float32 for a 16-bit l (``embedding`` is the forward's float32 copy),
    rounded once to l's dtype (the module docstring)."""
    word_mask = (ids != 0)[..., None]  # (..., S, 1)
    terms = upcast(l) * embed(embedding, ids)  # (..., S, d)
    x = torch.sum(torch.where(word_mask, terms, 0.0), dim=-2)  # (..., d)
    return (x if T is None else x + T).to(l.dtype)


class MemN2N(Twin):
    r"""End-to-End Memory Network (Sukhbaatar et al. 2015), K hops over sentence memories.

    .. math::
        m_i = \sum_j l_j \odot A^k x_{ij} + T_A^k(i), \quad c_i = \sum_j l_j \odot C^k x_{ij} + T_C^k(i),
        \quad u_1 = \sum_j l_j \odot B q_j,

        p_i = \mathrm{softmax}_i(u_k^\top m_i), \quad o_k = \sum_i p_i c_i, \quad
        u_{k+1} = u_k + o_k \ (\text{adjacent}) \ \text{or} \ H u_k + o_k \ (\text{layer-wise}), \quad
        \mathrm{logits} = W u_{K+1}

    where l_j is 1 (``encoding="bow"``) or the paper's position encoding l_{kj} = (1 - j/J) -
    (k/d)(1 - 2j/J) with J = S (``encoding="position"``); T_A, T_C are the temporal encodings,
    indexed by slot (slot 0 = the most recent sentence), present if ``temporal``. Adjacent tying:
    A^{k+1} = C^k, B = A^1, W^T = C^K, stored as one (K+1, V, d) tensor E with E[0] = A^1 = B and
    E[k] = C^k (T_E likewise, (K+1, M, d)). Layer-wise tying: A^k = A, C^k = C, plus B, H (d, d)
    and W (d, V) (kernels (in, out): u H is the paper's H u). B = batch, M = memory slots, S =
    words per sentence, d = embedding size, V = vocabulary, K = hops.

    Padding: token id 0. A padded word adds nothing; a slot whose words are all padding gets p_i
    exactly 0 (a story with no sentence gets all-zero p and o_k = 0).

    Linear start (paper section 4.2): while ``model.linear_start`` is True the hops use
    p_i = u_k^T m_i (masked to 0 on padded slots) instead of the softmax; only the final softmax of
    the loss remains. It starts as ``config.linear_start``; a trainer sets it to False when the
    validation loss stops falling, with no change to the weights.

    Args:
        config: ``MemN2NConfig``.
        dtype: "float32", "float64", "bfloat16" or "float16" (precision: the module docstring).

    Call arguments:
        stories: int (B, M, S), 0 = padding.
        query: int (B, S), 0 = padding.

    Returns:
        logits (B, V) (pre-softmax), p (B, K, M) the attention over memories of every hop.
    """

    def __init__(self, config: MemN2NConfig, dtype: str = "float32"):
        super().__init__(dtype=dtype)
        check_memn2n_config(config)
        self.config = c = config
        self.linear_start = c.linear_start
        V, d, M, K = c.vocab_size, c.embedding_dim, c.memory_size, c.hops
        if c.tying == "adjacent":
            self.E = weight((K + 1, V, d), dtype)
            if c.temporal:
                self.T_E = weight((K + 1, M, d), dtype)
        else:
            self.A = weight((V, d), dtype)
            self.B = weight((V, d), dtype)
            self.C = weight((V, d), dtype)
            if c.temporal:
                self.T_A = weight((M, d), dtype)
                self.T_C = weight((M, d), dtype)
            self.H = weight((d, d), dtype)
            self.W = weight((d, V), dtype)
        # Rounded once from float64 (cast_to): torch's own cast goes through float32 (the module docstring).
        l = from_numpy(cast_to(position_encoding(c.sentence_len, d, c.encoding), dtype))  # (S, d)
        self.register_buffer("l", l, persistent=False)

    def matrices(self):
        """Per-hop A^k, C^k (and T_A^k, T_C^k), B and W^T under the configured weight tying, each weight
        upcast once (a 16-bit one to float32: the module docstring)."""
        c = self.config
        K = c.hops
        T_A: list | None
        T_C: list | None
        if c.tying == "adjacent":
            E = upcast(self.E)
            A, C, B, W_T = [E[k] for k in range(K)], [E[k + 1] for k in range(K)], E[0], E[K]
            T_A, T_C = None, None
            if c.temporal:
                T_E = upcast(self.T_E)
                T_A, T_C = [T_E[k] for k in range(K)], [T_E[k + 1] for k in range(K)]
        else:
            A, C, B, W_T = [upcast(self.A)] * K, [upcast(self.C)] * K, upcast(self.B), None
            T_A, T_C = ([upcast(self.T_A)] * K, [upcast(self.T_C)] * K) if c.temporal else (None, None)
        return A, C, B, W_T, T_A, T_C

    def forward(self, stories, query, return_intermediates=False):
        c = self.config
        check_tensors(stories=stories, query=query)
        check_memn2n_inputs(c, stories, query, known_values)
        slot_mask = torch.any(stories != 0, dim=-1)  # (B, M)
        A, C, B, W_T, T_A, T_C = self.matrices()
        H, W = (upcast(self.H), upcast(self.W)) if c.tying == "layerwise" else (None, None)
        u_k = encode_sentences(B, query, self.l)  # (B, d)
        mids, p_hops = {}, []
        for k in range(c.hops):
            m_i = encode_sentences(A[k], stories, self.l, T_A[k] if c.temporal else None)  # (B, M, d)
            c_i = encode_sentences(C[k], stories, self.l, T_C[k] if c.temporal else None)  # (B, M, d)
            scores = matmul(m_i, u_k[:, :, None])[..., 0]  # (B, M)
            p = (
                torch.where(slot_mask, scores, 0.0) if self.linear_start else masked_softmax(scores, slot_mask)
            )  # (B, M)
            o = matmul(p[:, None, :], c_i)[:, 0]  # (B, d)
            mids.update({f"u_{k + 1}": u_k, f"m_{k + 1}": m_i, f"c_{k + 1}": c_i, f"p_{k + 1}": p, f"o_{k + 1}": o})
            p_hops.append(p)
            # Layer-wise, o is the matmul's bias: H u_k + o rounded once.
            u_k = (u_k + o) if c.tying == "adjacent" else matmul(u_k, H, o)
        mids[f"u_{c.hops + 1}"] = u_k
        logits = matmul(u_k, W_T.T) if c.tying == "adjacent" else matmul(u_k, W)  # (B, V)
        outputs = (logits, torch.stack(p_hops, dim=1))
        return (outputs, mids) if return_intermediates else outputs


class KVMemoryNetwork(Twin):
    r"""Key-Value Memory Network (Miller et al. 2016), bag-of-words features, H hops.

    .. math::
        q_1 = A \Phi_X(x), \quad p_h = \mathrm{softmax}_h(q_j^\top A \Phi_K(k_h)), \quad
        o = \sum_h p_h A \Phi_V(v_h), \quad q_{j+1} = R_j (q_j + o), \quad
        \mathrm{logits}_y = q_{H+1}^\top B \Phi_Y(y)

    where Phi is a bag of words (token id 0 = padding), A (V, d) embeds query, keys and values alike
    (as in the paper), R_j (d, d) is hop j's query update (stored (in, out): (q_j + o) R_j), and the
    candidates y are the V single-token answers, so B (V, d) scores every vocabulary word: logits =
    q_{H+1} B^T (the paper's similarity to candidate embeddings, not a linear layer). Key hashing
    happens outside: the selected key and value tokens come in as inputs, and a slot whose key is
    all padding gets exactly zero weight. B = batch, M = key-value slots, d = embedding size,
    H = ``hops``.

    Args:
        config: ``KVMemoryNetworkConfig``.
        dtype: "float32", "float64", "bfloat16" or "float16" (precision: the module docstring).

    Call arguments:
        query: int (B, S_q). keys: int (B, M, S_k). values: int (B, M, S_v). 0 = padding.

    Returns:
        logits (B, V), p (B, H, M) the key addressing of every hop.
    """

    def __init__(self, config: KVMemoryNetworkConfig, dtype: str = "float32"):
        super().__init__(dtype=dtype)
        self.config = c = config
        self.A = weight((c.vocab_size, c.embedding_dim), dtype)
        self.R = weight((c.hops, c.embedding_dim, c.embedding_dim), dtype)
        self.B = weight((c.vocab_size, c.embedding_dim), dtype)
        self.register_buffer("l", torch.ones((1, c.embedding_dim), dtype=getattr(torch, dtype)), persistent=False)

    def forward(self, query, keys, values, return_intermediates=False):
        c = self.config
        check_tensors(query=query, keys=keys, values=values)
        check_kv_inputs(c, query, keys, values, known_values)
        slot_mask = torch.any(keys != 0, dim=-1)  # (B, M)
        A, R = upcast(self.A), upcast(self.R)  # upcast once (the module docstring)
        k_h = encode_sentences(A, keys, self.l)  # (B, M, d)
        v_h = encode_sentences(A, values, self.l)  # (B, M, d)
        q_j = encode_sentences(A, query, self.l)  # (B, d)
        mids, p_hops = {"k_h": k_h, "v_h": v_h}, []
        for j in range(c.hops):
            scores = matmul(k_h, q_j[:, :, None])[..., 0]  # (B, M)
            p = masked_softmax(scores, slot_mask)  # (B, M)
            o = matmul(p[:, None, :], v_h)[:, 0]  # (B, d)
            mids.update({f"q_{j + 1}": q_j, f"p_{j + 1}": p, f"o_{j + 1}": o})
            p_hops.append(p)
            q_j = matmul(q_j + o, R[j])  # (B, d)
        mids[f"q_{c.hops + 1}"] = q_j
        logits = matmul(q_j, self.B.T)  # (B, V)
        outputs = (logits, torch.stack(p_hops, dim=1))
        return (outputs, mids) if return_intermediates else outputs


def roll(w, shift):
    """roll(w, shift)[:, i] = w[:, i - shift mod N] for shift in {-1, 1}, by concatenation."""
    if shift == 1:
        return torch.cat([w[:, -1:], w[:, :-1]], dim=1)
    return torch.cat([w[:, 1:], w[:, :1]], dim=1)


def ntm_address(memory, w_tm1, k, beta_hat, g_hat, s_hat, gamma_hat):
    """Content then location addressing (Graves et al. 2014, section 3.3); returns (w_t, w_c).

    One step in float32 for 16-bit arguments, w_t and w_c rounded once to w_tm1's dtype (the module docstring)."""
    dtype = w_tm1.dtype
    memory, w_tm1, k, beta_hat, g_hat, s_hat, gamma_hat = (
        upcast(v) for v in (memory, w_tm1, k, beta_hat, g_hat, s_hat, gamma_hat)
    )
    beta = softplus(beta_hat)  # (B,) >= 0
    g = sigmoid(g_hat)  # (B,) in (0, 1)
    s = torch.softmax(s_hat, dim=-1)  # (B, 3) over shifts -1, 0, +1
    gamma = 1.0 + softplus(gamma_hat)  # (B,) >= 1
    # NTM_EPS inside the square roots: a zero key or memory row has cosine 0 and a finite gradient.
    norm_memory = torch.sqrt(torch.sum(memory**2, dim=-1) + NTM_EPS)  # (B, N)
    norm_k = torch.sqrt(torch.sum(k**2, dim=-1) + NTM_EPS)  # (B,)
    K = torch.matmul(memory, k[:, :, None])[..., 0] / (norm_memory * norm_k[:, None])  # (B, N)
    w_c = torch.softmax(beta[:, None] * K, dim=-1)  # (B, N)
    w_g = g[:, None] * w_c + (1.0 - g[:, None]) * w_tm1  # (B, N)
    w_s = s[:, 0:1] * roll(w_g, -1) + s[:, 1:2] * w_g + s[:, 2:3] * roll(w_g, 1)  # (B, N)
    # w^gamma / sum w^gamma = softmax(gamma log w): no power of 0, no division by 0.
    w_t = torch.softmax(gamma[:, None] * torch.log(w_s + NTM_EPS), dim=-1)  # (B, N)
    return w_t.to(dtype), w_c.to(dtype)


def ntm_write(memory, w_t, e, a):
    """M_t = M_{t-1} (1 - w_t e^T) + w_t a^T: in float32 for 16-bit w_t, e, a, rounded once to w_t's dtype."""
    dtype = w_t.dtype
    w_t, e, a = upcast(w_t), upcast(e), upcast(a)
    return (upcast(memory) * (1.0 - w_t[:, :, None] * e[:, None, :]) + w_t[:, :, None] * a[:, None, :]).to(dtype)


class NTM(Twin):
    r"""Neural Turing Machine (Graves et al. 2014): one read head, one write head, unrolled over T.

    .. math::
        h_t = \mathrm{controller}([x_t; r_{t-1}]), \quad
        [k, \hat\beta, \hat g, \hat s, \hat\gamma] = h_t W_{read} + b_{read}, \quad
        [k, \hat\beta, \hat g, \hat s, \hat\gamma, \hat e, a] = h_t W_{write} + b_{write},

        w^c_i = \mathrm{softmax}_i\Big(\beta
        \frac{k \cdot M_{t-1}(i)}{\lVert k \rVert_\epsilon \lVert M_{t-1}(i) \rVert_\epsilon}\Big),
        \quad w^g = g w^c + (1 - g) w_{t-1}, \quad \tilde w_i = \sum_{\delta \in \{-1,0,1\}} w^g_{i-\delta} s_\delta,
        \quad w_i = \mathrm{softmax}_i(\gamma \log(\tilde w_i + \epsilon)),

        r_t = \sum_i w^{read}_i M_{t-1}(i), \quad
        M_t(i) = M_{t-1}(i) \odot (1 - w^{write}_i e) + w^{write}_i a, \quad
        y_t = [h_t; r_t] W_{out} + b_{out}

    where beta = softplus(beta_hat) >= 0, g = sigmoid(g_hat), s = softmax(s_hat) over shifts
    (-1, 0, +1), gamma = 1 + softplus(gamma_hat) >= 1, e = sigmoid(e_hat) and a, k are linear;
    |u|_eps = sqrt(|u|^2 + eps) and eps = ``NTM_EPS`` = 1e-8 (a zero vector has cosine 0 and a
    finite gradient; the sharpening w^gamma / sum w^gamma is written as a softmax of gamma log(w + eps),
    which never divides by 0 nor takes log 0). The shift index i - delta is circular (mod N), done
    by concatenation. The read uses M_{t-1}, then the write makes M_t. The controller is an LSTM
    (``controller="lstm"``, gates i, f, g, o as in ``LSTMCell``) or h_t = tanh([x_t; r_{t-1}] W + b)
    (``"feedforward"``). M_0 is the weight ``M_0`` (``memory_init="learned"``) or 1e-6 everywhere
    (``"fixed"``); h_0 = c_0 = 0, both heads start on slot 0 (w_0 = e_0), r_0 = M_0(0).
    B = batch, T = steps, I/O = input/output features, H = controller units, N = memory slots,
    M = slot width.

    Args:
        config: ``NTMConfig``.
        dtype: "float32", "float64", "bfloat16" or "float16" (precision: the module docstring).

    Call arguments:
        x: float (B, T, I).

    Returns:
        y (B, T, O) pre-sigmoid logits (a bit task's loss is sigmoid cross-entropy on them),
        read_weights (B, T, N), write_weights (B, T, N): each row sums to 1.
    """

    def __init__(self, config: NTMConfig, dtype: str = "float32"):
        super().__init__(dtype=dtype)
        check_ntm_config(config)
        self.config = c = config
        read, write = ntm_head_sizes(c)
        H, M = c.controller_size, c.memory_width
        if c.memory_init == "learned":
            self.M_0 = weight((c.memory_slots, M), dtype)
        self.W_read = weight((H, read), dtype)
        self.b_read = weight((read,), dtype, "zeros")
        self.W_write = weight((H, write), dtype)
        self.b_write = weight((write,), dtype, "zeros")
        self.W_out = weight((H + M, c.output_dim), dtype)
        self.b_out = weight((c.output_dim,), dtype, "zeros")
        # Sub-twins last: their weights follow the model's own in the canonical order.
        self.controller: LSTMCell | FeedForwardCell
        if c.controller == "lstm":
            self.controller = LSTMCell(c.input_dim + M, H, dtype=dtype)
        else:
            self.controller = FeedForwardCell(c.input_dim + M, H, dtype=dtype)

    def forward(self, x, return_intermediates=False):
        c = self.config
        check_tensors(x=x)
        check_ntm_inputs(c, x, self.compute_dtype)
        B, T, _ = x.shape
        N, M, H = c.memory_slots, c.memory_width, c.controller_size
        # Read at every step, so upcast once (the module docstring).
        W_read, b_read, W_write, b_write, W_out, b_out = (
            upcast(v) for v in (self.W_read, self.b_read, self.W_write, self.b_write, self.W_out, self.b_out)
        )
        if c.memory_init == "learned":
            # Broadcast in float32, so that M_0's gradient, a sum over the batch, is too.
            memory = (upcast(self.M_0)[None] + upcast(x.new_zeros((B, 1, 1)))).to(x.dtype)  # (B, N, M)
        else:
            # The constant rounded once (cast_to) to a value of the dtype, which the conversion keeps.
            memory = x.new_full((B, N, M), float(cast_to(NTM_FIXED_MEMORY, dtype_name(x.dtype))))
        h_t, c_t = x.new_zeros((B, H)), x.new_zeros((B, H))
        w_read = torch.cat([x.new_ones((B, 1)), x.new_zeros((B, N - 1))], dim=1)  # heads start on slot 0
        w_write = torch.cat([x.new_ones((B, 1)), x.new_zeros((B, N - 1))], dim=1)
        r_t = matmul(w_read[:, None, :], memory)[:, 0]  # (B, M)
        steps: dict[str, list] = {
            n: [] for n in ("h", "w_c_read", "read_weights", "r", "w_c_write", "write_weights", "e", "a", "memory", "y")
        }
        # The controller's weights upcast once for all steps: their gradients are summed over the steps in float32.
        controller_weights = self.controller.upcast_weights()
        for t in range(T):
            controller_input = torch.cat([x[:, t], r_t], dim=-1)  # (B, I + M)
            if c.controller == "lstm":
                (h_t, c_t), _ = self.controller(controller_input, (h_t, c_t), controller_weights)
            else:
                h_t = self.controller(controller_input, controller_weights)
            # M_{t-1} upcast once per step: its gradient, over the step's four uses, is summed in float32.
            memory_tm1 = upcast(memory)  # (B, N, M)
            P = matmul(h_t, W_read, b_read)  # (B, M + 6)
            w_read, w_c_read = ntm_address(
                memory_tm1, w_read, P[:, :M], P[:, M], P[:, M + 1], P[:, M + 2 : M + 5], P[:, M + 5]
            )
            r_t = matmul(w_read[:, None, :], memory_tm1)[:, 0]  # (B, M)
            Q = matmul(h_t, W_write, b_write)  # (B, 3M + 6)
            w_write, w_c_write = ntm_address(
                memory_tm1, w_write, Q[:, :M], Q[:, M], Q[:, M + 1], Q[:, M + 2 : M + 5], Q[:, M + 5]
            )
            e = sigmoid(upcast(Q[:, M + 6 : 2 * M + 6])).to(x.dtype)  # (B, M), in float32, rounded once
            a = Q[:, 2 * M + 6 :]  # (B, M)
            memory = ntm_write(memory_tm1, w_write, e, a)  # (B, N, M)
            y_t = matmul(torch.cat([h_t, r_t], dim=-1), W_out, b_out)  # (B, O)
            for n, v in zip(steps, (h_t, w_c_read, w_read, r_t, w_c_write, w_write, e, a, memory, y_t), strict=True):
                steps[n].append(v)
        mids = {n: torch.stack(v, dim=1) for n, v in steps.items()}
        outputs = (mids["y"], mids["read_weights"], mids["write_weights"])
        return (outputs, mids) if return_intermediates else outputs
