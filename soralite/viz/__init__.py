"""Pictures (every chapter): every figure and annotated clip the notebooks draw lives here, once.

Each function is pure: it takes arrays (clips, scene truths, tracks, attention maps) and returns
a matplotlib `Figure` or a uint8 clip `(T, H, W, 3)` that `soralite.video.show` animates. One
rule sizes every figure (`soralite.viz.frames`): a frame is `FRAME_INCHES` wide, text
`TEXT_SIZE` points, so no notebook sets its own sizes.
- `frames`: `frame_strip`, `upscale`, `figure_rgb`, `new_figure`
- `truth`: the palette, a clip with its scene truth, what the tracker saw
- `attention`: attention maps over the clip, word heatmaps, attention distance
- `noise`: noise schedules and noisy clips, latent channels, samples, sampling trajectories
- `grids`: captioned grids of clips (`samples.gif`)
- `training`: the loss and the loss by noise level against the step
- `scaling`: loss and adherence against training compute, the frontier and the fit; base/4x/32x
- `sizes`: packed sequences of clips of many sizes and their block-diagonal attention mask
- `probes`: the world-simulation probes: tracks over time, the permanence timeline, anchors
- `explorers`: the ipywidgets explorers (attention, noise)
"""
from soralite.viz.attention import (HEAD_MEAN, HEAT_CMAP, attention_distance, attention_distances,
                                    attention_share, attention_to_keys, grid_frames, head_weights,
                                    overlay_heatmap, patch_coverage, plot_attention,
                                    plot_attention_distance, plot_word_attention, query_index,
                                    token_spacing, upsample_heat, word_attention_clips,
                                    word_heatmaps)
from soralite.viz.conditioning import OUTLINE_RGB, latent_to_frames, outline_frames, task_strip
from soralite.viz.frames import (FIGURE_DPI, FRAME_INCHES, MAX_STRIP_FRAMES, TEXT_SIZE, _as_clip,
                                 figure_rgb, frame_strip, new_figure, upscale)
from soralite.viz.grids import GRID_SCALE, caption_band, captioned_grid
from soralite.viz.noise import (NOISE_SCHEDULES, SCHEDULE_STEPS, noisy_clip, plot_latent_channels,
                                plot_noise_schedules, plot_noisy_clip, plot_samples,
                                schedule_alpha_sigma, steps_animation, trajectory_clips)
from soralite.viz.probes import (HISTOGRAM_SIZE, TRACKS_SIZE, plot_against_anchors,
                                 plot_measure_histogram, plot_permanence_timeline,
                                 plot_tracks_over_time)
from soralite.viz.scaling import SCALING_SIZE, compute_figure, plot_scaling
from soralite.viz.sizes import PACK_MASK_INCHES, PACK_PLAN_WIDTH, plot_pack_mask, plot_pack_plan
from soralite.viz.training import HISTORY_SIZE, plot_history
from soralite.viz.truth import (TRUTH_RGB, TRUTH_SCALE, draw_scene_truth, draw_tracks, labels_rgb,
                                plot_palette, plot_scene_truth, track_summary, truth_box)

__all__ = ["HEAD_MEAN", "HEAT_CMAP", "attention_distance", "attention_distances", "attention_share",
           "attention_to_keys", "grid_frames", "head_weights", "overlay_heatmap", "patch_coverage",
           "plot_attention", "plot_attention_distance", "plot_word_attention", "query_index",
           "token_spacing", "upsample_heat", "word_attention_clips", "word_heatmaps", "FIGURE_DPI",
           "FRAME_INCHES", "MAX_STRIP_FRAMES", "TEXT_SIZE", "figure_rgb", "frame_strip",
           "new_figure", "upscale", "GRID_SCALE", "caption_band", "captioned_grid",
           "NOISE_SCHEDULES", "SCHEDULE_STEPS", "noisy_clip", "plot_latent_channels",
           "plot_noise_schedules", "plot_noisy_clip", "plot_samples", "schedule_alpha_sigma",
           "steps_animation", "trajectory_clips", "TRUTH_RGB", "TRUTH_SCALE", "draw_scene_truth",
           "draw_tracks", "labels_rgb", "plot_palette", "plot_scene_truth", "track_summary",
           "truth_box", "HISTORY_SIZE", "plot_history"]
__all__ += ["OUTLINE_RGB", "latent_to_frames", "outline_frames", "task_strip"]
__all__ += ["SCALING_SIZE", "compute_figure", "plot_scaling"]
__all__ += ["PACK_MASK_INCHES", "PACK_PLAN_WIDTH", "plot_pack_mask", "plot_pack_plan"]
__all__ += ["HISTOGRAM_SIZE", "TRACKS_SIZE", "plot_against_anchors", "plot_measure_histogram",
            "plot_permanence_timeline", "plot_tracks_over_time"]
