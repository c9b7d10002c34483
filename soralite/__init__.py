"""soralite: a Sora-style video diffusion system, rebuilt at a scale that trains in minutes.

`import soralite` gives the config, the models, the diffusion core and the `Pipeline`; it loads no
training code (that is `soralite.train`, and `soralite.quickstart` for the whole recipe). The map
of the package, stage by stage, is docs/architecture.md.
"""
from soralite.config import PRESETS, Config, get_config
from soralite.diffusion import (DDIMScheduler, DDPMScheduler, FlowMatchEulerScheduler,
                                FlowMatchHeunScheduler, get_scheduler, sample)
from soralite.models import (DIT_PRESETS, DiagonalGaussian, Denoiser, DiT, HFTextEncoder,
                             TextEncoder, Tokenizer, VideoVAE, capture_attention, count_parameters,
                             dit_config)
from soralite.pipeline import Pipeline

__version__ = "0.1.0"
__all__ = ["Config", "get_config", "PRESETS", "__version__", "Tokenizer", "TextEncoder",
           "HFTextEncoder", "DiT", "Denoiser", "DIT_PRESETS", "capture_attention",
           "count_parameters", "dit_config", "DDPMScheduler", "DDIMScheduler",
           "FlowMatchEulerScheduler", "FlowMatchHeunScheduler", "get_scheduler", "sample",
           "VideoVAE", "DiagonalGaussian", "Pipeline"]
