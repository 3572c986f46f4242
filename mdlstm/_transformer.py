"""The decoder-only transformer network and its cached sampler (torch).

Re-exported by :mod:`mdlstm.model`, which documents it; this module holds the
network (:class:`CharTransformer`), its shape (:class:`TransformerConfig`),
the key/value cache a forward pass carries (:class:`KVCache`) and the
one-character-at-a-time sampler over a rolling cache (:class:`_CachedStepper`).

Positions are rotary (RoPE): queries and keys are rotated by an angle
proportional to their absolute position before the dot product, which then
depends on the distance between the two positions only. Every query attends
to the ``context_length`` most recent positions, itself included (a band
mask), in training, in scoring and in generation alike. A key computed once
therefore stays valid for as long as it is in the band, and generation keeps
the last ``context_length`` keys and values of every layer in a ring buffer:
each new character costs one attention over ``context_length`` cached keys,
the same at step 100 as at step 10**6. Angles are computed in float64
(positions of 1e9 keep them to 1e-7 rad) and rounded to float32.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from ._checks import integer_at_least, positive_int
from ._io import NetworkConfig

#: Base of the rotary frequencies (RoFormer; Su et al. 2021).
ROPE_BASE = 10_000.0


@dataclasses.dataclass(frozen=True)
class TransformerConfig(NetworkConfig):
    """The shape of a :class:`~mdlstm.model.CharTransformer`, for the network and its file.

    Attributes
    ----------
    n_states : int
        Alphabet size (number of discrete states).
    d_model : int
        Width of the residual stream (and of each state's embedding).
    n_layers : int
        Transformer blocks.
    n_heads : int
        Attention heads per block; ``d_model / n_heads`` must be an even
        integer (rotary positions rotate pairs of dimensions).
    context_length : int
        States each prediction sees: the state itself and the
        ``context_length - 1`` before it (at least 2).

    Raises
    ------
    ValueError, TypeError
        Naming the field, for a shape no network can have.
    """

    n_states: int
    d_model: int = 64
    n_layers: int = 1
    n_heads: int = 4
    context_length: int = 128
    #: Name of the architecture in model files.
    architecture: ClassVar[str] = "transformer"

    def __post_init__(self):
        integer_at_least(self.n_states, "n_states", 2)
        for name in ("d_model", "n_layers", "n_heads"):
            positive_int(getattr(self, name), name)
        integer_at_least(self.context_length, "context_length", 2)
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError(f"d_model ({self.d_model}) must be n_heads ({self.n_heads}) "
                             "times an even head width (rotary positions rotate pairs)")


class KVCache(NamedTuple):
    """What a forward pass leaves for the next one to continue the sequence.

    ``keys`` and ``values``: one tensor per layer, (batch, n_heads, m,
    head_width), the rotated keys and the values of the last ``m <=
    context_length - 1`` positions; ``position``: the position of the next
    state.
    """

    keys: tuple
    values: tuple
    position: int


def _rope(start, stop, head_width, device):
    """cos and sin of the rotary angles of positions ``start..stop-1``, float32,
    (stop - start, head_width / 2)."""
    inv_freq = ROPE_BASE ** (-torch.arange(0, head_width, 2, dtype=torch.float64) / head_width)
    angles = torch.arange(start, stop, dtype=torch.float64)[:, None] * inv_freq
    return angles.cos().float().to(device), angles.sin().float().to(device)


def _rotate(x, cos, sin):
    """Rotate the pairs (x_i, x_{i + w/2}) of the last axis by the angles."""
    a, b = x.chunk(2, dim=-1)
    return torch.cat((a * cos - b * sin, a * sin + b * cos), dim=-1)


class _Block(nn.Module):
    """Pre-norm block: x + attention(LN x), then x + MLP(LN x) (as nanoGPT)."""

    def __init__(self, d_model, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.norm1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(),
                                 nn.Linear(4 * d_model, d_model))

    def project(self, x, cos, sin):
        """Rotated queries and keys and the values of ``x`` (..., T, d): (..., H, T, w)."""
        *lead, t, d = x.shape
        qkv = self.qkv(self.norm1(x)).view(*lead, t, 3, self.n_heads, d // self.n_heads)
        q, k, v = qkv.movedim(-3, 0).transpose(-3, -2)
        return _rotate(q, cos, sin), _rotate(k, cos, sin), v

    def finish(self, x, attended):
        """The block's output from its input and the heads' outputs (..., H, T, w)."""
        x = x + self.proj(attended.transpose(-3, -2).flatten(-2))
        return x + self.mlp(self.norm2(x))

    def forward(self, x, cos, sin, old_keys, old_values, window):
        q, k, v = self.project(x, cos, sin)
        m, t = old_keys.shape[2], x.shape[1]
        if m:
            k, v = torch.cat((old_keys, k), dim=2), torch.cat((old_values, v), dim=2)
            # query i sits at key m + i and sees the `window` keys up to it
            distance = (m + torch.arange(t, device=x.device))[:, None] - torch.arange(
                m + t, device=x.device)
            band = (distance >= 0) & (distance < window)
            attended = F.scaled_dot_product_attention(q, k, v, attn_mask=band)
        else:   # t <= window: the band is the causal mask
            attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.finish(x, attended), k, v


class CharTransformer(nn.Module):
    """Embedding -> decoder-only transformer (rotary positions) -> Linear.

    Parameters
    ----------
    n_states : int
        Size of the alphabet (number of discrete states).
    d_model : int
        Width of the residual stream.
    n_layers : int
        Transformer blocks.
    n_heads : int
        Attention heads per block.
    context_length : int
        States each prediction sees, the state itself included.
    """

    def __init__(self, n_states, d_model=64, n_layers=1, n_heads=4, context_length=128):
        super().__init__()
        TransformerConfig(n_states, d_model, n_layers, n_heads, context_length)  # checks
        self.context_length = context_length
        self.embedding = nn.Embedding(n_states, d_model)
        self.blocks = nn.ModuleList(_Block(d_model, n_heads) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_states)
        # GPT-2's initialisation: N(0, 0.02), residual projections scaled by depth
        for name, param in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(param)
            elif param.dim() == 2:
                std = 0.02 / math.sqrt(2 * n_layers) if name.endswith(
                    ("proj.weight", "mlp.2.weight")) else 0.02
                nn.init.normal_(param, std=std)

    @property
    def n_heads(self):
        return self.blocks[0].n_heads

    @property
    def head_width(self):
        return self.embedding.embedding_dim // self.n_heads

    @property
    def config(self):
        """The network's :class:`TransformerConfig`."""
        return TransformerConfig(self.embedding.num_embeddings, self.embedding.embedding_dim,
                                 len(self.blocks), self.n_heads, self.context_length)

    @classmethod
    def from_config(cls, config):
        """A new (untrained) network of this shape."""
        return cls(**dataclasses.asdict(config))

    def describe(self):
        c = self.config
        return (f"{c.n_layers}x{c.d_model} transformer, {c.n_heads} heads, "
                f"context {c.context_length}")

    def empty_cache(self, batch):
        """The :class:`KVCache` of a sequence not yet begun."""
        weight = self.head.weight
        empty = weight.new_zeros((batch, self.n_heads, 0, self.head_width))
        return KVCache((empty,) * len(self.blocks), (empty,) * len(self.blocks), 0)

    def forward(self, states, cache=None):
        """Logits of the next state after every position.

        Parameters
        ----------
        states : torch.LongTensor, shape (batch, time)
        cache : KVCache, optional
            Left by the forward pass over the preceding states; None: the
            sequence begins here (position 0). Long inputs are processed in
            blocks of ``context_length`` states, each continuing the cache of
            the last, so memory does not grow with ``time`` squared.

        Returns
        -------
        logits : torch.Tensor, shape (batch, time, n_states)
        cache : KVCache
            After the last position.
        """
        cache = self.empty_cache(states.shape[0]) if cache is None else cache
        logits = []
        for part in states.split(self.context_length, dim=1):
            out, cache = self._forward_block(part, cache)
            logits.append(out)
        return torch.cat(logits, dim=1), cache

    def _forward_block(self, states, cache):
        window, t = self.context_length, states.shape[1]
        cos, sin = _rope(cache.position, cache.position + t, self.head_width, states.device)
        x = self.embedding(states)
        keys, values = [], []
        for block, old_k, old_v in zip(self.blocks, cache.keys, cache.values):
            x, k, v = block(x, cos, sin, old_k, old_v, window)
            keys.append(k[:, :, -(window - 1):])
            values.append(v[:, :, -(window - 1):])
        return (self.head(self.norm(x)),
                KVCache(tuple(keys), tuple(values), cache.position + t))


class _CachedStepper:
    """One-character-at-a-time forward of a :class:`CharTransformer` over a rolling cache.

    Holds, per layer, a ring buffer of the keys and values of the last
    ``context_length`` positions, (chains, n_heads, context_length,
    head_width). A step embeds the chains' current states, writes their keys
    and values over the oldest slot and attends over the filled slots: the
    order of the slots does not matter, because the keys carry their
    positions (rotary) and no mask is needed within the band. Cost and
    memory per step do not depend on how long the chains are.

    Parameters
    ----------
    net : CharTransformer
    cache : KVCache
        Of the prompt read so far (all but its last state).
    logit_mask : torch.Tensor or None
        (n_states, n_states), added to the logits by the current state.
    """

    @torch.no_grad()
    def __init__(self, net, cache, logit_mask=None):
        self.net, self.logit_mask = net, logit_mask
        window, held = net.context_length, cache.keys[0].shape[2]
        batch = cache.keys[0].shape[0]
        shape = (batch, net.n_heads, window, net.head_width)
        self.keys = [cache_k.new_zeros(shape) for cache_k in cache.keys]
        self.values = [cache_k.new_zeros(shape) for cache_k in cache.keys]
        for buf, old in zip(self.keys + self.values, cache.keys + cache.values):
            buf[:, :, :held] = old
        self.position, self.written = cache.position, held

    def state(self):
        """The tensors a resumed generation restores (:meth:`load_state`)."""
        tensors = {f"k{n}": k for n, k in enumerate(self.keys)}
        tensors.update({f"v{n}": v for n, v in enumerate(self.values)})
        tensors["clock"] = torch.tensor([self.position, self.written])
        return tensors

    def load_state(self, tensors):
        for n, (k, v) in enumerate(zip(self.keys, self.values)):
            k.copy_(tensors[f"k{n}"])
            v.copy_(tensors[f"v{n}"])
        self.position, self.written = (int(x) for x in tensors["clock"])

    @torch.no_grad()
    def __call__(self, states):
        """Logits (1, chains, n_states) of the next state after ``states`` (1, chains)."""
        net = self.net
        window = net.context_length
        slot, filled = self.written % window, min(self.written + 1, window)
        cos, sin = _rope(self.position, self.position + 1, net.head_width, states.device)
        x = net.embedding(states[0])[:, None]                       # (chains, 1, d)
        for block, keys, values in zip(net.blocks, self.keys, self.values):
            q, k, v = block.project(x, cos, sin)                    # (chains, H, 1, w)
            keys[:, :, slot] = k[:, :, 0]
            values[:, :, slot] = v[:, :, 0]
            attended = F.scaled_dot_product_attention(q, keys[:, :, :filled],
                                                      values[:, :, :filled])
            x = block.finish(x, attended)
        self.position, self.written = self.position + 1, self.written + 1
        logits = net.head(net.norm(x[:, 0]))
        if self.logit_mask is not None:
            logits += self.logit_mask.index_select(0, states[0])
        return logits[None]
