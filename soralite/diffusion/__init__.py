"""Diffusion (notebooks 04, 06, 07 and 09): noise schedules, schedulers, the objective, the sampler
and conditioning on given frames.
It knows the models only as functions of `(x_t, t, condition)`; nothing here knows the world or
training loops. Every name of `schedules`, `schedulers`, `loss` and `sampler` is re-exported.
"""
from soralite.diffusion.conditioning import (GIVEN_NOISE_MAX, GIVEN_NOISE_SHARE, TASKS, Known,
                                             TaskBatch, draw_tasks, level_to_timestep, next_window,
                                             parse_tasks)
from soralite.diffusion.loss import (bucket_index, bucket_names, diffusion_loss,
                                     packed_diffusion_loss)
from soralite.diffusion.sampler import (Trajectory, cfg_combine, concat_cond, guided_prediction,
                                        sample)
from soralite.diffusion.schedulers import (OBJECTIVES, PREDICTION_TYPES, SCHEDULERS, TIME_SAMPLINGS,
                                           DDIMScheduler, DDPMScheduler, FlowMatchEulerScheduler,
                                           FlowMatchHeunScheduler, SchedulerOutput, get_scheduler,
                                           make_scheduler, model_time, noise_level)
from soralite.diffusion.schedules import (BASE_NUM_TOKENS, BETA_SCHEDULES, COSINE_OFFSET,
                                          DEFAULT_NUM_TRAIN_TIMESTEPS, LINEAR_BETA_END,
                                          LINEAR_BETA_START, LOGIT_NORMAL_MEAN, LOGIT_NORMAL_STD,
                                          MAX_BETA, SIGMOID_END, SIGMOID_START, SIGMOID_TAU,
                                          UNIFORM_T_EPS, alphas_cumprod, cosine_beta_schedule,
                                          eps_from_v, eps_from_velocity, eps_from_x0, expand_to,
                                          flow_alpha_sigma, flow_snr, get_betas,
                                          linear_beta_schedule, logit_normal_timesteps, randn_like,
                                          resolution_shift, shift_timesteps, sigmoid_beta_schedule,
                                          snr, v_from_x0_eps, velocity_from_x0_eps, x0_from_eps,
                                          x0_from_v, x0_from_velocity)
from soralite.diffusion import conditioning, loss, sampler, schedulers, schedules

__all__ = (conditioning.__all__ + loss.__all__ + sampler.__all__ + schedulers.__all__
           + schedules.__all__)
