"""The networks (notebooks 02, 03, 05 and 12): patchify, the video VAE, the text encoder, the DiT,
the denoiser that pairs them, the latents' shapes and scale, and the video captioner. They know neither the world nor
training: the tokenizer is given its vocabulary (by default the caption language's).
"""
from soralite.models.captioner import Captioner, CaptionerOutput
from soralite.models.denoiser import Denoiser
from soralite.models.dit import (DIT_PRESETS, AttentionMaps, DiT, capture_attention, count_parameters,
                                 dit_config)
from soralite.models.latents import clip_size, decoder_gains, encode_clips, latent_shape, num_tokens
from soralite.models.text import HFTextEncoder, TextEncoder, Tokenizer
from soralite.models.vae import DiagonalGaussian, VideoVAE

__all__ = ["Captioner", "CaptionerOutput", "Denoiser", "DIT_PRESETS", "AttentionMaps", "DiT", "capture_attention",
           "count_parameters", "dit_config", "clip_size", "decoder_gains", "encode_clips", "latent_shape",
           "num_tokens", "HFTextEncoder", "TextEncoder", "Tokenizer", "DiagonalGaussian", "VideoVAE"]
