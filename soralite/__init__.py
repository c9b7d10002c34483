"""soralite: a Sora-style video diffusion system, rebuilt at a scale that trains in minutes."""
from soralite.config import Config, get_config, PRESETS

__version__ = "0.1.0"
__all__ = ["Config", "get_config", "PRESETS", "__version__"]
