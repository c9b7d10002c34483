"""The sampling loop recovers known data with exact (oracle) denoisers (soralite/sampler.py).

The oracle knows the data distribution, Gaussian `N(mu, s^2)` per element (a point mass when
`s = 0`), so the exact conditional expectations `E[x0 | x_t]` and `E[eps | x_t]` are closed forms;
it answers in the scheduler's own parametrization through `training_target`, which is linear.
"""
import math

import pytest
import torch

from soralite.diffusion import Trajectory, concat_cond, guided_prediction, sample
from soralite.diffusion import (DDIMScheduler, DDPMScheduler, FlowMatchEulerScheduler,
                                FlowMatchHeunScheduler, expand_to, get_scheduler)

SHAPE = (2, 3, 4, 8, 8)   # (B, C, T, H, W)


def gaussian_oracle(scheduler, mu, s=0.0):
    """The exact denoiser for data `x0 ~ N(mu, s^2)` elementwise (mu a tensor or a float)."""
    def model_fn(x_t, t, cond):
        alpha, sigma = scheduler.alpha_sigma(t.cpu() if scheduler.prediction_type != "flow" else t)
        a, sg = expand_to(alpha, x_t), expand_to(sigma, x_t)                   # (B, 1, 1, 1, 1)
        x0 = mu + a * s ** 2 / (a ** 2 * s ** 2 + sg ** 2) * (x_t - a * mu)     # E[x0 | x_t]
        eps = (x_t - a * x0) / sg                                               # E[eps | x_t]
        return scheduler.training_target(x0, eps, t)
    return model_fn


def gaussian_transport(scheduler, z, mu, s):
    """Where the exact probability-flow ODE takes the start noise `z`: the monotone affine map
    from the start marginal `N(a mu, a^2 s^2 + sigma^2)` onto the data `N(mu, s^2)`."""
    alpha, sigma = (v.item() for v in scheduler.alpha_sigma(scheduler.timesteps[:1]))
    return mu + s * (z - alpha * mu) / math.sqrt(alpha ** 2 * s ** 2 + sigma ** 2)


DETERMINISTIC = [
    ("ddim-eps", lambda: DDIMScheduler("linear")),
    ("ddim-v", lambda: DDIMScheduler("cosine", prediction_type="v_prediction")),
    ("ddim-x0", lambda: DDIMScheduler("sigmoid", prediction_type="sample")),
    ("euler", lambda: FlowMatchEulerScheduler()),
    ("euler-shift3", lambda: FlowMatchEulerScheduler(shift=3.0)),
    ("heun", lambda: FlowMatchHeunScheduler(shift=2.0)),
]


@pytest.mark.parametrize("name, make", DETERMINISTIC, ids=[d[0] for d in DETERMINISTIC])
def test_point_mass_is_recovered_in_few_steps_along_the_forward_path(name, make):
    """All data equal to x0*: every deterministic sampler stays on the ray x_t = a x0* + s eps0
    and lands on x0*; a wrong coefficient anywhere in step() leaves the ray."""
    sch = make()
    x0_star = torch.randn(SHAPE, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
    z = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1))
    x, traj = sample(gaussian_oracle(sch, x0_star), sch, SHAPE, noise=z, steps=3, return_trajectory=True)
    torch.testing.assert_close(x, x0_star, atol=1e-5, rtol=1e-5)
    alpha, sigma = sch.alpha_sigma(sch.timesteps[:1])
    eps0 = (z - alpha.item() * x0_star) / sigma.item()                         # the ray's direction
    for t, x_t in zip(traj.timesteps, traj.samples):
        expected = sch.add_noise(x0_star, eps0, torch.full((SHAPE[0],), t, dtype=sch.timesteps.dtype))
        torch.testing.assert_close(x_t, expected, atol=1e-4, rtol=1e-4)
    for x0_hat in traj.pred_original_samples:
        torch.testing.assert_close(x0_hat, x0_star, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name, make, steps, tol", [
    ("ddim-eps", lambda: DDIMScheduler("linear"), 100, 0.08),
    ("ddim-v", lambda: DDIMScheduler("cosine", prediction_type="v_prediction"), 100, 0.08),
    ("euler", lambda: FlowMatchEulerScheduler(), 100, 0.04),
    ("heun", lambda: FlowMatchHeunScheduler(), 20, 0.03),
], ids=["ddim-eps", "ddim-v", "euler", "heun"])
def test_gaussian_data_follows_the_exact_ode_map(name, make, steps, tol):
    """For Gaussian data the ODE's map from noise to data is known; the sampler approaches it,
    and more steps bring it closer (first order for DDIM and Euler, second for Heun)."""
    mu, s = 0.7, 0.3
    sch = make()
    z = torch.randn(2000, 1, 1, 1, 1, generator=torch.Generator().manual_seed(2))
    errors = []
    for n in (steps // 5, steps):
        x = sample(gaussian_oracle(sch, mu, s), sch, z.shape, noise=z, steps=n)
        errors.append((x - gaussian_transport(sch, z, mu, s)).abs().max().item())
    assert errors[1] < tol
    assert errors[1] < errors[0] / (3 if name != "heun" else 10)


def test_heun_beats_euler_at_the_same_steps():
    mu, s, z = 0.7, 0.3, torch.randn(2000, 1, 1, 1, 1, generator=torch.Generator().manual_seed(3))
    err = {}
    for sch in (FlowMatchEulerScheduler(), FlowMatchHeunScheduler()):
        x = sample(gaussian_oracle(sch, mu, s), sch, z.shape, noise=z, steps=10)
        err[type(sch).__name__] = (x - gaussian_transport(sch, z, mu, s)).abs().max().item()
    assert err["FlowMatchHeunScheduler"] < err["FlowMatchEulerScheduler"] / 3


def test_ddpm_with_enough_steps_gets_the_data_distribution():
    mu, s = 0.7, 0.3
    sch = DDPMScheduler("cosine")
    x = sample(gaussian_oracle(sch, mu, s), sch, (4000, 1, 1, 1, 1), steps=250, seed=4)
    assert x.mean().item() == pytest.approx(mu, abs=0.02)
    assert x.std().item() == pytest.approx(s, abs=0.02)


def test_ddim_with_eta_one_is_ddpm():
    """Song et al. 2021: eta = 1 gives DDPM's posterior; same seed, same samples."""
    mu, s = 0.7, 0.3
    ddpm, ddim = DDPMScheduler(), DDIMScheduler(eta=1.0)
    a = sample(gaussian_oracle(ddpm, mu, s), ddpm, SHAPE, steps=20, seed=5)
    b = sample(gaussian_oracle(ddim, mu, s), ddim, SHAPE, steps=20, seed=5)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["ddpm", "ddim", "flow_euler", "flow_heun"])
def test_same_seed_same_output_bitwise(name):
    kwargs = {"eta": 0.5} if name == "ddim" else {}
    sch = get_scheduler(name, **kwargs)
    model = gaussian_oracle(sch, 0.2, 0.5)
    a = sample(model, sch, SHAPE, steps=6, seed=7)
    b = sample(model, sch, SHAPE, steps=6, seed=7)
    c = sample(model, sch, SHAPE, steps=6, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and torch.equal(a, c)
    assert not torch.equal(a, sample(model, sch, SHAPE, steps=6, seed=8))


class Recorder:
    """A conditional toy model: output = x * 0.5 + cond (broadcast); records batch sizes seen."""

    def __init__(self):
        self.batches, self.conds = [], []

    def __call__(self, x_t, t, cond):
        assert t.shape == (x_t.shape[0],)
        text = cond["text"] if isinstance(cond, dict) else cond
        self.batches.append(x_t.shape[0])
        self.conds.append(text)
        return 0.5 * x_t + expand_to(text.mean(dim=1), x_t)                   # (B, C, T, H, W)


def test_guidance_scale_one_equals_no_guidance():
    cond, uncond = torch.ones(2, 5), torch.zeros(2, 5)
    runs = []
    for kwargs in ({}, {"uncond": uncond, "guidance_scale": 1.0}):
        model = Recorder()
        runs.append(sample(model, FlowMatchEulerScheduler(), SHAPE, cond, steps=4, seed=9, **kwargs))
        assert model.batches == [2] * 4                                          # never doubled
    assert torch.equal(runs[0], runs[1])


def test_guidance_runs_a_doubled_batch_uncond_first():
    cond = {"text": torch.full((2, 5), 2.0)}
    uncond = {"text": torch.full((2, 5), -1.0)}
    assert concat_cond(uncond, cond)["text"][:, 0].tolist() == [-1.0, -1.0, 2.0, 2.0]
    model = Recorder()
    x, t = torch.randn(SHAPE, generator=torch.Generator().manual_seed(10)), torch.full((2,), 0.5)
    guided = guided_prediction(model, x, t, cond, uncond, guidance_scale=4.0)
    assert model.batches == [4]
    # uncond + s * (cond - uncond) = 0.5 x - 1 + 4 * 3
    torch.testing.assert_close(guided, 0.5 * x + 11.0)
    out = sample(Recorder(), DDIMScheduler(), SHAPE, cond, uncond=uncond, guidance_scale=4.0, steps=3, seed=0)
    assert out.shape == SHAPE


def test_bad_conditioning_raises():
    model, sch = Recorder(), FlowMatchEulerScheduler()
    with pytest.raises(ValueError, match="needs uncond"):
        sample(model, sch, SHAPE, torch.ones(2, 5), guidance_scale=3.0, steps=2)
    with pytest.raises(ValueError, match="batch size 2"):
        sample(model, sch, SHAPE, torch.ones(3, 5), steps=2)
    with pytest.raises(ValueError, match="same keys"):
        concat_cond({"a": torch.ones(1)}, {"b": torch.ones(1)})
    with pytest.raises(ValueError, match="noise has shape"):
        sample(model, sch, SHAPE, torch.ones(2, 5), noise=torch.zeros(1, 3, 4, 8, 8), steps=2)


@pytest.mark.parametrize("name", ["ddpm", "ddim", "flow_euler", "flow_heun"])
def test_trajectory_has_steps_plus_one_samples(name):
    sch = get_scheduler(name)
    model = gaussian_oracle(sch, 0.3, 0.2)
    x, traj = sample(model, sch, SHAPE, steps=5, seed=11, return_trajectory=True, progress=True)
    assert isinstance(traj, Trajectory) and len(traj) == 5 + 1
    assert len(traj.pred_original_samples) == 5 and len(traj.timesteps) == 5
    assert torch.equal(traj.samples[-1], x)
    assert traj.timesteps == sorted(traj.timesteps, reverse=True)
    assert torch.equal(x, sample(model, sch, SHAPE, steps=5, seed=11))         # recording changes nothing
