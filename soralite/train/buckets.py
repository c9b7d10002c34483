"""Training on clips of many sizes: buckets and packing (notebook 10).

Sora trains on videos and images at their native duration, resolution and aspect ratio.
`train.sizes` lists the sizes `(frames, height, width)` with weights; the world renders each
natively into a latent pool of its own (`SizeMix.build`). A step holds about `token_budget`
tokens (`train.token_budget`, default the batch size times the tokens of the world's clip), in
one of two ways (`train.batching`):
- **buckets** (Open-Sora): a step draws one size by its weight and a batch of that size alone,
  `budget // tokens` clips of it, so no token is padding;
- **packing** (NaViT, "Patch n' Pack"): a step draws clips of any sizes and packs them, first
  fit, into sequences as long as the longest clip of the mix (`soralite.models.packing`);
  sequences are padded to the longest, which is the compute packing spends on padding.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from soralite.config import Config, parse_sizes
from soralite.models import num_tokens
from soralite.models.packing import PackPlan, plan_packing
from soralite.train.pool import LatentPool, build_pool, latent_scale

MIN_POOL = 128                     # clips of a size in its pool, however small its weight


@dataclass
class SizeMix:
    """The sizes a run trains on, their weights and token counts, and a latent pool of each."""

    sizes: list[tuple[int, int, int]]
    weights: list[float]
    tokens: list[int]
    budget: int
    pools: dict[tuple[int, int, int], LatentPool]

    @classmethod
    def of(cls, cfg: Config, pools: dict | None = None) -> "SizeMix":
        mix = parse_sizes(cfg.train.sizes)
        w = cfg.world
        if not mix:
            m = min(w.height, w.width)
            mix = {(w.frames, m, m) if cfg.train.crop == "square" else (w.frames, w.height, w.width): 1.0}
        sizes = list(mix)
        tokens = [num_tokens(cfg, s) for s in sizes]
        budget = cfg.train.token_budget or cfg.train.batch_size * num_tokens(cfg)
        return cls(sizes, [mix[s] for s in sizes], tokens, budget, pools or {})

    @property
    def single(self) -> bool:
        return len(self.sizes) == 1

    def pool_clips(self, cfg: Config) -> list[int]:
        """Clips in each size's pool: `train.pool_clips` shared by weight, at least `MIN_POOL`."""
        if self.single:
            return [cfg.train.pool_clips]
        total = sum(self.weights)
        return [max(MIN_POOL, round(cfg.train.pool_clips * w / total)) for w in self.weights]

    def build(self, cfg: Config, vae, tokenizer, out=None, progress: bool = False) -> "SizeMix":
        """Render and encode each size's pool (cached in `out`), all with one latent scale."""
        scale = latent_scale(cfg, vae)
        for k, (size, n) in enumerate(zip(self.sizes, self.pool_clips(cfg))):
            rendered = None if cfg.train.crop != "none" else size          # a crop renders the world's
            self.pools[size] = build_pool(cfg, vae, tokenizer, out, progress, size=rendered, n=n,
                                          epoch=k if not self.single else 0, scale=scale)
        return self

    def draw_size(self, generator: torch.Generator) -> int:
        """The index of a size, drawn by weight."""
        w = torch.tensor(self.weights, dtype=torch.float64)
        return int(torch.multinomial(w / w.sum(), 1, generator=generator))

    def bucket(self, generator: torch.Generator) -> tuple[tuple[int, int, int], torch.Tensor]:
        """A bucket batch: one size and `budget // tokens` clip indices of its pool."""
        k = self.draw_size(generator)
        size = self.sizes[k]
        B = max(1, self.budget // self.tokens[k])
        return size, torch.randint(0, len(self.pools[size]), (B,), generator=generator)

    @property
    def sequence_length(self) -> int:
        return max(self.tokens)

    def pack(self, generator: torch.Generator) -> tuple[list[tuple[tuple[int, int, int], int]], PackPlan]:
        """A packed batch: clips `(size, pool index)` drawn by weight until `budget` tokens are
        taken, and the plan that packs them into sequences of `sequence_length` tokens."""
        picked, taken = [], 0
        while True:
            k = self.draw_size(generator)
            if picked and taken + self.tokens[k] > self.budget:
                break
            size = self.sizes[k]
            picked.append((size, int(torch.randint(0, len(self.pools[size]), (1,), generator=generator))))
            taken += self.tokens[k]
        plan = plan_packing([self.tokens[self.sizes.index(s)] for s, _ in picked], self.sequence_length)
        return picked, plan


__all__ = ["SizeMix", "MIN_POOL"]
