"""Noise schedules, parametrizations and schedulers behave as the papers say (soralite/schedules.py)."""
import math

import pytest
import torch

from soralite import diffusion as S

SCHEDULES = list(S.BETA_SCHEDULES)


@pytest.mark.parametrize("name", SCHEDULES)
def test_alphas_cumprod_is_decreasing_in_unit_interval(name):
    ab = S.alphas_cumprod(S.get_betas(name, 1000))
    assert ab.shape == (1000,)
    assert (ab > 0).all() and (ab <= 1).all()
    assert (ab[1:] < ab[:-1]).all()
    assert ab[-1] < 1e-3          # the last step is (nearly) pure noise


@pytest.mark.parametrize("name", SCHEDULES)
def test_snr_is_decreasing(name):
    snr = S.snr(S.alphas_cumprod(S.get_betas(name, 1000)))
    assert (snr[1:] < snr[:-1]).all()
    assert snr[0] > 100 and snr[-1] < 1e-3


def test_linear_schedule_has_ddpm_endpoints_and_scales_with_length():
    betas = S.linear_beta_schedule(1000)
    assert betas[0].item() == pytest.approx(1e-4) and betas[-1].item() == pytest.approx(0.02)
    # half as many steps, twice the beta: the same alphas_cumprod curve, roughly
    ab_500 = S.alphas_cumprod(S.linear_beta_schedule(500))
    ab_1000 = S.alphas_cumprod(S.linear_beta_schedule(1000))
    assert torch.allclose(ab_500, ab_1000[1::2], atol=0.01)


def test_cosine_schedule_follows_its_closed_form():
    """Nichol & Dhariwal eq. 17, wherever the beta clip does not bite."""
    ab = S.alphas_cumprod(S.cosine_beta_schedule(1000))
    t = torch.arange(1, 1001, dtype=torch.float64) / 1000
    f = lambda u: torch.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2
    expected = f(t) / f(torch.zeros(1, dtype=torch.float64))
    torch.testing.assert_close(ab[:990], expected[:990], rtol=1e-9, atol=1e-12)


def test_bad_names_raise_with_allowed_list():
    with pytest.raises(ValueError, match="linear, cosine, sigmoid"):
        S.get_betas("quadratic")
    with pytest.raises(ValueError, match="epsilon, v_prediction, sample"):
        S.DDPMScheduler(prediction_type="score")
    with pytest.raises(ValueError, match="ddpm, ddim, flow_euler, flow_heun"):
        S.get_scheduler("dpm++")
    with pytest.raises(ValueError, match="logit_normal, uniform"):
        S.FlowMatchEulerScheduler(time_sampling="beta")
    with pytest.raises(ValueError, match="linear"):
        S.DDIMScheduler(beta_schedule="exp")


def _alpha_sigma_pairs():
    g = torch.Generator().manual_seed(0)
    ab = torch.rand(4, generator=g, dtype=torch.float64) * 0.98 + 0.01
    t = torch.rand(4, generator=g, dtype=torch.float64) * 0.98 + 0.01
    return [("ddpm", ab.sqrt(), (1 - ab).sqrt()), ("flow", 1 - t, t)]


@pytest.mark.parametrize("path, alpha, sigma", _alpha_sigma_pairs())
def test_parametrization_conversions_are_exact_inverses(path, alpha, sigma):
    g = torch.Generator().manual_seed(1)
    x0, eps = (torch.randn(4, 3, 2, 4, 4, generator=g, dtype=torch.float64) for _ in range(2))
    x_t = S.expand_to(alpha, x0) * x0 + S.expand_to(sigma, x0) * eps
    close = lambda a, b: torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    close(S.x0_from_eps(x_t, eps, alpha, sigma), x0)
    close(S.eps_from_x0(x_t, x0, alpha, sigma), eps)
    v = S.v_from_x0_eps(x0, eps, alpha, sigma)
    close(S.x0_from_v(x_t, v, alpha, sigma), x0)
    close(S.eps_from_v(x_t, v, alpha, sigma), eps)
    if path == "flow":
        t = sigma
        u = S.velocity_from_x0_eps(x0, eps)
        close(S.x0_from_velocity(x_t, u, t), x0)
        close(S.eps_from_velocity(x_t, u, t), eps)


@pytest.mark.parametrize("prediction_type", S.PREDICTION_TYPES)
def test_scheduler_reads_back_its_own_training_target(prediction_type):
    sch = S.DDPMScheduler("cosine", prediction_type=prediction_type)
    g = torch.Generator().manual_seed(2)
    x0, noise = torch.randn(2, 5, 3, 2, 4, 4, generator=g, dtype=torch.float64)
    t = sch.sample_timesteps(5, g)
    x_t = sch.add_noise(x0, noise, t)
    x0_hat, eps_hat = sch.predict_x0_eps(sch.training_target(x0, noise, t), t, x_t)
    torch.testing.assert_close(x0_hat, x0, rtol=1e-7, atol=1e-7)
    torch.testing.assert_close(eps_hat, noise, rtol=1e-7, atol=1e-7)


def test_flow_add_noise_runs_from_data_to_noise():
    sch = S.FlowMatchEulerScheduler()
    g = torch.Generator().manual_seed(3)
    x0, noise = torch.randn(2, 3, 3, 2, 4, 4, generator=g)
    assert torch.equal(sch.add_noise(x0, noise, torch.zeros(3)), x0)
    assert torch.equal(sch.add_noise(x0, noise, torch.ones(3)), noise)
    half = sch.add_noise(x0, noise, torch.full((3,), 0.5))
    torch.testing.assert_close(half, (x0 + noise) / 2)
    torch.testing.assert_close(sch.training_target(x0, noise, torch.rand(3)), noise - x0)


@pytest.mark.parametrize("name", SCHEDULES)
def test_ddpm_add_noise_ends_nearly_pure_noise(name):
    sch = S.DDPMScheduler(name)
    g = torch.Generator().manual_seed(4)
    x0, noise = torch.randn(2, 4, 3, 2, 8, 8, generator=g)
    x_start = sch.add_noise(x0, noise, torch.zeros(4, dtype=torch.long))
    assert (x_start - x0).std() < 0.02                       # t = 0: the data, barely noised
    x_end = sch.add_noise(x0, noise, torch.full((4,), 999))
    assert (x_end - noise).std() < 0.02                      # t = N - 1: (nearly) pure noise


def test_shift_is_monotone_fixes_endpoints_and_moves_towards_noise():
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    for shift in (0.5, 1.0, 2.0, 3.0, 8.0):
        ts = S.shift_timesteps(t, shift)
        assert (ts[1:] > ts[:-1]).all()
        assert ts[0] == 0 and ts[-1] == 1
    inner = t[1:-1]
    assert (S.shift_timesteps(inner, 3.0) > inner).all()
    assert (S.shift_timesteps(inner, 0.5) < inner).all()
    torch.testing.assert_close(S.shift_timesteps(inner, 1.0), inner)
    assert (S.shift_timesteps(inner, 8.0) > S.shift_timesteps(inner, 3.0)).all()
    with pytest.raises(ValueError, match="shift"):
        S.shift_timesteps(t, 0.0)


def test_resolution_shift_grows_as_sqrt_of_tokens():
    assert S.resolution_shift(S.BASE_NUM_TOKENS) == 1.0
    assert S.resolution_shift(4 * 256, base_num_tokens=256) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        S.resolution_shift(0)


@pytest.mark.parametrize("mean", [0.0, 0.5, -1.0])
def test_logit_normal_samples_in_unit_interval_with_right_median(mean):
    t = S.logit_normal_timesteps(20000, mean=mean, std=1.0, generator=torch.Generator().manual_seed(5))
    assert t.shape == (20000,)
    assert (t > 0).all() and (t < 1).all()
    assert t.median().item() == pytest.approx(1 / (1 + math.exp(-mean)), abs=0.01)
    again = S.logit_normal_timesteps(20000, mean=mean, generator=torch.Generator().manual_seed(5))
    assert torch.equal(t, again)


def test_flow_snr_matches_alpha_sigma_and_decreases():
    t = torch.linspace(0.01, 0.99, 50, dtype=torch.float64)
    alpha, sigma = S.flow_alpha_sigma(t)
    torch.testing.assert_close(S.flow_snr(t), alpha ** 2 / sigma ** 2)
    assert (S.flow_snr(t)[1:] < S.flow_snr(t)[:-1]).all()


def test_sample_timesteps_types_ranges_and_seeds():
    ddpm, flow = S.DDPMScheduler(), S.FlowMatchEulerScheduler(shift=3.0, time_sampling="uniform")
    t = ddpm.sample_timesteps(1000, torch.Generator().manual_seed(6))
    assert t.dtype == torch.long and t.min() >= 0 and t.max() < 1000 and t.unique().numel() > 400
    assert torch.equal(t, ddpm.sample_timesteps(1000, torch.Generator().manual_seed(6)))
    u = flow.sample_timesteps(1000, torch.Generator().manual_seed(6))
    assert u.is_floating_point() and (u > 0).all() and (u < 1).all()
    assert u.median() > 0.6      # shift 3 moves the uniform median 0.5 to 0.75


def test_timestep_grids():
    ddim = S.DDIMScheduler()
    ddim.set_timesteps(10)
    assert ddim.timesteps[0] == 999 and ddim.timesteps[-1] == 0 and len(ddim.timesteps) == 10
    assert (ddim.timesteps[1:] < ddim.timesteps[:-1]).all()
    euler = S.FlowMatchEulerScheduler(shift=2.0)
    euler.set_timesteps(8)
    assert len(euler.timesteps) == 8 and euler.timesteps[0] == 1.0 and euler.sigmas[-1] == 0.0
    heun = S.FlowMatchHeunScheduler()
    heun.set_timesteps(8)
    assert len(heun.timesteps) == 2 * 8 - 1
    with pytest.raises(ValueError, match="num_inference_steps"):
        ddim.set_timesteps(1001)


def test_step_checks_its_grid():
    sch = S.DDIMScheduler()
    x = torch.zeros(1, 1, 1, 2, 2)
    with pytest.raises(ValueError, match="set_timesteps"):
        sch.step(x, 999, x)
    sch.set_timesteps(4)
    with pytest.raises(ValueError, match="not on the grid"):
        sch.step(x, 500, x)
    out = sch.step(x, sch.timesteps[0], x)
    assert out.prev_sample.shape == x.shape and out.pred_original_sample.shape == x.shape


def test_heun_checks_the_order_of_its_calls():
    heun, x = S.FlowMatchHeunScheduler(), torch.zeros(1, 1, 1, 2, 2)
    heun.set_timesteps(3)
    heun.step(x, heun.timesteps[0], x)
    assert not heun.state_in_first_order
    with pytest.raises(ValueError, match="expects timestep"):
        heun.step(x, heun.timesteps[0], x)
    heun.step(x, heun.timesteps[1], x)
    assert heun.state_in_first_order
