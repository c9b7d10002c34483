"""The toy world (notebook 01): scenes and their truth, rendering, captions, prompt sets, and the
analytic tracker that scores any clip against its caption. It knows no model and no training.

- `scenes`: `SceneTruth`, `ObjectTruth`, `sample_scene` (what is where, in every frame)
- `captions`: the standard and the descriptive caption of a scene, or of objects' attributes
- `attributes`: objects as attributes, from the scene truth or read by the tracker (notebook 12)
- `render`: `render`, `generate`, `WorldDataset`, `export_clips`
- `prompts`: the upsampler, held-out, evaluation and grid prompts, fixed sets in `data/prompts`
- `tracker`: pixels -> blobs -> tracks; `scoring`: tracks against captions
The caption language itself (`parse_prompt`, `PromptError`, `VOCABULARY`) is `soralite.language`,
re-exported here.
"""
from soralite.language import (VOCABULARY, WALL_PHRASE, ObjectSpec, PromptError, PromptSpec,
                               check_prompt_in_world, parse_prompt)
from soralite.world.attributes import (compare_attributes, summarize_comparisons,
                                       tracked_attributes, truth_attributes)
from soralite.world.captions import caption, caption_from_attributes, describe
from soralite.world.prompts import (eval_prompts, grid_prompts, held_out_prompts, prompt_set,
                                    upsample_prompt)
from soralite.world.render import (WorldBatch, WorldDataset, clip_rng, export_clips, generate,
                                   render, render_prompt, shape_masks)
from soralite.world.scenes import (ObjectTruth, SceneTruth, clear_of_wall, object_side,
                                   sample_scene, wall_columns)
from soralite.world.scoring import (agreement, is_held_out, read_captions, score_clip, score_clips,
                                    score_folder, summarize)
from soralite.world.tracker import (WALL, ClipTracks, Track, classify_shape, clear_of_frame, label_pixels,
                                    majority, track_clip)

__all__ = ["VOCABULARY", "WALL_PHRASE", "ObjectSpec", "PromptError", "PromptSpec",
           "check_prompt_in_world", "parse_prompt", "caption", "describe", "caption_from_attributes",
           "compare_attributes", "summarize_comparisons", "tracked_attributes", "truth_attributes",
           "eval_prompts",
           "grid_prompts", "held_out_prompts", "prompt_set", "upsample_prompt", "WorldBatch",
           "WorldDataset", "clip_rng", "export_clips", "generate", "render", "render_prompt",
           "shape_masks", "ObjectTruth", "SceneTruth", "clear_of_wall", "object_side",
           "sample_scene", "wall_columns", "agreement", "is_held_out", "read_captions",
           "score_clip", "score_clips", "score_folder", "summarize", "WALL", "ClipTracks", "Track", "majority",
           "classify_shape", "label_pixels", "track_clip"]
