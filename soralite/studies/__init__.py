"""Studies of a trained model, each a function that returns a JSON-ready result: what the
attention looks at (notebook 08); scaling with compute: FLOPs counted, a sweep of DiT sizes and
budgets, the frontier and its power law (notebook 14). The world-simulation probes (notebook 11)
are in `soralite.studies.probes`.
"""
from soralite.studies.attention import (PromptAttention, capture_prompt_attention,
                                        object_masks_from_scene, object_masks_from_tracks,
                                        object_word_indices, word_object_shares)
from soralite.studies.scaling import (GRIDS, Grid, bootstrap_fit, count_flops, figure_runs,
                                      fit_power_law, frontier, grid_for, read_table, run_sweep,
                                      training_step_flops, write_table)

__all__ = ["PromptAttention", "capture_prompt_attention", "object_masks_from_scene",
           "object_masks_from_tracks", "object_word_indices", "word_object_shares",
           "GRIDS", "Grid", "bootstrap_fit", "count_flops", "figure_runs", "fit_power_law",
           "frontier", "grid_for", "read_table", "run_sweep", "training_step_flops", "write_table"]
