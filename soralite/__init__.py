"""soralite: a Sora-style video diffusion system, rebuilt at a scale that trains in minutes."""
from soralite.config import Config, get_config, PRESETS

__version__ = "0.1.0"
__all__ = ["Config", "get_config", "PRESETS", "__version__"]

from soralite.text import Tokenizer, TextEncoder, HFTextEncoder
from soralite.dit import DiT, Denoiser, DIT_PRESETS, capture_attention, count_parameters, dit_config

__all__ += ["Tokenizer", "TextEncoder", "HFTextEncoder", "DiT", "Denoiser", "DIT_PRESETS",
            "capture_attention", "count_parameters", "dit_config"]

from soralite.schedules import (DDPMScheduler, DDIMScheduler, FlowMatchEulerScheduler,
                                FlowMatchHeunScheduler, get_scheduler)
from soralite.sampler import sample

__all__ += ["DDPMScheduler", "DDIMScheduler", "FlowMatchEulerScheduler", "FlowMatchHeunScheduler",
            "get_scheduler", "sample"]

from soralite.vae import VideoVAE, DiagonalGaussian

__all__ += ["VideoVAE", "DiagonalGaussian"]

from soralite.pipeline import Pipeline, load_or_quickstart

__all__ += ["Pipeline", "load_or_quickstart"]
