"""Clips of different sizes in one sequence: NaViT's "Patch n' Pack" for the DiT (notebook 10).

A packed sequence holds several clips' tokens one after the other. Each token keeps its own
clip's position embedding (its grid, counted from 0), its own clip's noise level (adaLN per token)
and attends only to its own clip: self-attention runs with a block-diagonal boolean mask through
`scaled_dot_product_attention` (for a factorized DiT: same clip and same frame for spatial
attention, same clip and same place for temporal), and cross-attention sees only its own clip's
prompt. Sequences of a batch are padded to the longest; padding tokens attend to themselves only
and are dropped. So the DiT's output for a clip in a pack equals its output for that clip alone
(up to float rounding), which `tests/test_packing.py` checks.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from soralite.models.dit import DiT
from soralite.models.patchify import grid_positions, patch_grid, unpatchify


@dataclass
class PackPlan:
    """Which clips go into which sequence: `sequences[b]` lists the clip indices of sequence b."""

    sequences: list[list[int]]
    tokens: list[int]                     # tokens per clip
    budget: int                           # tokens per sequence

    @property
    def padding_share(self) -> float:
        """The share of the padded batch (sequences x longest) that is padding."""
        lengths = [sum(self.tokens[i] for i in seq) for seq in self.sequences]
        total = len(lengths) * max(lengths)
        return 1 - sum(lengths) / total if total else 0.0


def plan_packing(tokens: list[int], budget: int) -> PackPlan:
    """Greedy first-fit, longest first: clips of `tokens[i]` tokens into sequences of at most
    `budget` tokens. A clip longer than the budget is an error that names both."""
    too_long = [n for n in tokens if n > budget]
    if too_long:
        raise ValueError(f"the token budget {budget} is smaller than a clip of {max(too_long)} "
                         f"tokens; raise it to at least {max(too_long)}")
    order = sorted(range(len(tokens)), key=lambda i: -tokens[i])
    sequences, room = [], []
    for i in order:
        for b, r in enumerate(room):
            if tokens[i] <= r:
                sequences[b].append(i)
                room[b] -= tokens[i]
                break
        else:
            sequences.append([i])
            room.append(budget - tokens[i])
    return PackPlan([sorted(s) for s in sequences], list(tokens), budget)


def _frame_levels(t: torch.Tensor, frames: int, pt: int) -> torch.Tensor:
    """A clip's level(s) as one per token frame `(frames / pt,)`."""
    t = torch.as_tensor(t, dtype=torch.float32).reshape(-1)
    if t.numel() == 1:
        return t.expand(frames // pt)
    if t.numel() != frames:
        raise ValueError(f"a clip of {frames} latent frames needs 1 or {frames} levels; got {t.numel()}")
    return t.reshape(frames // pt, pt).mean(1)


def packed_forward(dit: DiT, xs: list[torch.Tensor], t: list, text: torch.Tensor,
                   text_mask: torch.Tensor, plan: PackPlan | None = None,
                   given: list | None = None, given_mask: list | None = None) -> list[torch.Tensor]:
    """The DiT on clips of any sizes at once: `xs[i] (C, T_i, H_i, W_i)`, `t[i]` a level or one per
    latent frame `(T_i,)`, `text (K, L, text_dim)` and `text_mask (K, L)` the prompt of each clip;
    `plan` (default: everything in one sequence) says which clips share a sequence. Returns the
    outputs `(C, T_i, H_i, W_i)` in the order of `xs`."""
    K = len(xs)
    if text.shape[0] != K or len(t) != K:
        raise ValueError(f"{K} clips need {K} prompts and {K} levels (got {text.shape[0]}, {len(t)})")
    device, D, pt = text.device, dit.cfg.hidden_size, dit.patch_size[0]
    grids = [patch_grid(x.shape[1:], dit.patch_size) for x in xs]
    tokens_per = [g[0] * g[1] * g[2] for g in grids]
    plan = plan or PackPlan([list(range(K))], tokens_per, sum(tokens_per))
    text_mask = text_mask.to(torch.bool)
    m = text_mask[..., None].to(text.dtype)                                # (K, L, 1)
    pooled = dit.text_pool((text * m).sum(1) / m.sum(1).clamp(min=1))      # (K, D)
    context = dit.text_proj(text)                                          # (K, L, D)

    # per clip: tokens (with position and the given channel), c per token, ids for the masks
    tok, cs, seg, frame_id, place_id, cos, sin = [], [], [], [], [], [], []
    for i, x in enumerate(xs):
        x = x[None].to(device)                                             # (1, C, T, H, W)
        z, grid = dit.x_embedder(x)                                        # (1, N_i, D)
        if given is not None and given[i] is not None:
            gm = torch.as_tensor(given_mask[i], device=device).to(x.dtype)[None, None, :, None, None]
            gm = gm.expand(1, 1, *x.shape[2:])                             # (1, 1, T, H, W)
            z = z + dit.cond_embedder(torch.cat([given[i][None].to(device) * gm, gm], dim=1))[0]
        pos = dit.pos_table(grid, device)
        if dit.cfg.pos_embed == "sincos":
            z = z + pos[None].to(z.dtype)                                  # positions per clip
        else:
            cos.append(pos[0])
            sin.append(pos[1])
        levels = _frame_levels(t[i], x.shape[2], pt).to(device)           # (F,)
        c = dit.t_embedder(levels) + pooled[i]                             # (F, D)
        size = dit.size_vector(x.shape[2:], device)                        # the clip's own size
        if size is not None:
            c = c + size                                                   # (F, D)
        S = grid[1] * grid[2]
        tok.append(z[0])
        cs.append(c.repeat_interleave(S, dim=0))                           # (N_i, D)
        p = grid_positions(grid).to(device)                                # (N_i, 3) t, y, x
        seg.append(torch.full((len(p),), i, device=device))
        frame_id.append(p[:, 0])
        place_id.append(p[:, 1] * grid[2] + p[:, 2])

    B = len(plan.sequences)
    N = max(sum(tokens_per[i] for i in s) for s in plan.sequences)
    L = text.shape[1]
    x_seq = torch.zeros(B, N, D, device=device)
    c_seq = torch.zeros(B, N, D, device=device)
    ids = torch.full((B, N, 3), -1, device=device, dtype=torch.long)       # clip, frame, place
    ctx = torch.zeros(B, max(len(s) for s in plan.sequences) * L, D, device=device)
    ctx_owner = torch.full((B, ctx.shape[1]), -2, device=device, dtype=torch.long)
    rope = None
    if dit.cfg.pos_embed == "rope":
        half = cos[0].shape[-1]
        rope = (torch.zeros(B, 1, N, half, device=device), torch.zeros(B, 1, N, half, device=device))
    where = []
    for b, sequence in enumerate(plan.sequences):
        at = 0
        for k, i in enumerate(sequence):
            n = tokens_per[i]
            x_seq[b, at:at + n], c_seq[b, at:at + n] = tok[i], cs[i]
            ids[b, at:at + n] = torch.stack([seg[i], frame_id[i], place_id[i]], dim=1)
            if rope is not None:
                rope[0][b, 0, at:at + n], rope[1][b, 0, at:at + n] = cos[i], sin[i]
            ctx[b, k * L:(k + 1) * L] = context[i]
            ctx_owner[b, k * L:(k + 1) * L] = torch.where(text_mask[i], i, torch.tensor(-2, device=device))
            where.append((i, b, at, n))
            at += n
    clip_of = ids[..., 0]                                                  # (B, N), -1 on padding
    same = clip_of[:, :, None] == clip_of[:, None, :]                      # (B, N, N)
    pad = clip_of < 0
    eye = torch.eye(N, dtype=torch.bool, device=device)[None]
    same = (same & ~pad[:, :, None]) | (pad[:, :, None] & eye)            # padding sees itself
    masks = {"full": same, "self": same,
             "spatial": same & (ids[:, :, None, 1] == ids[:, None, :, 1]),
             "temporal": same & (ids[:, :, None, 2] == ids[:, None, :, 2])}
    masks = {k: v | (pad[:, :, None] & eye) for k, v in masks.items()}
    cross = clip_of[:, :, None] == ctx_owner[:, None, :]                   # (B, N, K L)
    cross[..., 0] |= pad                                                   # padding: one key
    for block in dit.blocks:
        x_seq = block(x_seq, c_seq, ctx, cross, None, rope, self_masks=masks)   # (B, N, D)
    out_seq = dit.final_layer(x_seq, c_seq)                                # (B, N, C pt ph pw)
    outs: list[torch.Tensor | None] = [None] * K
    for i, b, at, n in where:
        outs[i] = unpatchify(out_seq[b:b + 1, at:at + n], dit.patch_size, grids[i])[0]
    return outs


__all__ = ["PackPlan", "plan_packing", "packed_forward"]
