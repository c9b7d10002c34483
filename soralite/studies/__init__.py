"""Studies of a trained model, each a function that returns a JSON-ready result: what the
attention looks at (notebook 08). Later chapters add the world-simulation probes and scaling.
"""
from soralite.studies.attention import (PromptAttention, capture_prompt_attention,
                                        object_masks_from_scene, object_masks_from_tracks,
                                        object_word_indices, word_object_shares)

__all__ = ["PromptAttention", "capture_prompt_attention", "object_masks_from_scene",
           "object_masks_from_tracks", "object_word_indices", "word_object_shares"]
