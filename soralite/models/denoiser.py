"""The denoiser: the text encoder and the DiT trained together (notebooks 05 and 06).

`Denoiser(cfg)(x_t, t, token_ids, mask)` is what training regresses and the pipeline samples
with: the prompt's token ids are encoded by `TextEncoder` and the DiT predicts from the noisy
latent, the noise level and the text features.
"""
from __future__ import annotations

import torch
from torch import nn

from soralite.config import Config
from soralite.language import VOCABULARIES
from soralite.models.dit import DiT
from soralite.models.text import TextEncoder, Tokenizer


class Denoiser(nn.Module):
    """The trained pair: `TextEncoder` (the prompt's token ids -> features) and `DiT`.

    `Denoiser(cfg)(x_t, t, token_ids, mask)` -> the model's prediction `(B, C, T, H, W)`, where `cfg`
    is a full `Config` (the latent channels come from `cfg.vae`, the tokenizer's words from
    `cfg.dit.vocabulary`: the standard captions, or the descriptive ones too). `encode_prompts` tokenizes.
    """

    def __init__(self, cfg: Config, vocabulary: tuple[str, ...] | None = None):
        super().__init__()
        d = cfg.dit
        self.tokenizer = Tokenizer(vocabulary or VOCABULARIES[d.vocabulary])   # dit.vocabulary
        self.text_encoder = TextEncoder(len(self.tokenizer), d.text_dim, d.text_depth, d.text_heads,
                                        d.text_max_length)
        self.dit = DiT(d, cfg.vae.latent_channels)

    def encode_prompts(self, prompts, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompts -> token ids `(B, L)` and mask `(B, L)`, padded to `text_max_length`."""
        ids, mask = self.tokenizer.encode(prompts, self.dit.cfg.text_max_length)
        device = device or next(self.parameters()).device
        return ids.to(device), mask.to(device)                              # (B, L), (B, L)

    def forward(self, x_t, t, token_ids, mask, given=None, given_mask=None) -> torch.Tensor:
        """`t` is `(B,)` or one level per latent frame `(B, T)`; `given`, `given_mask` mark the
        latent frames that are known (see `DiT.forward`)."""
        text, mask = self.text_encoder(token_ids, mask)                     # (B, L, text_dim), (B, L)
        return self.dit(x_t, t, text, mask, given, given_mask)              # (B, C, T, H, W)


__all__ = ["Denoiser"]
