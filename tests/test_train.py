"""Training the denoiser (soralite/train.py): the loss falls, is logged per noise level, a stopped
run resumes as the same run, the EMA is an exponential moving average, and prompts are dropped
for guidance at the configured rate."""
import json

import pytest
import torch

from soralite.checkpoint import ConfigMismatchError
from soralite.config import get_config
from soralite.diffusion import diffusion_loss, make_scheduler, model_time
from soralite.models import Denoiser, Tokenizer, latent_shape, num_tokens
from soralite.diffusion import bucket_names
from soralite.train import EMA, LatentPool, drop_prompts, latent_scale, lr_at, train
from soralite.world import generate


def smoke(**overrides):
    return get_config("smoke", overrides={"train.steps": 4, "train.log_every": 1,
                                          "train.checkpoint_every": 2, **overrides})


def random_pool(cfg, n=12, seed=0) -> LatentPool:
    """A pool of random latents with real captions: no VAE needed."""
    g = torch.Generator().manual_seed(seed)
    captions = generate(cfg.world, n, seed=seed).captions
    ids, mask = Tokenizer().encode(captions, cfg.dit.text_max_length)
    return LatentPool(torch.randn(n, *latent_shape(cfg), generator=g), captions, ids, mask)


def test_shapes_of_the_latent_and_tokens():
    cfg = get_config("tiny")
    assert latent_shape(cfg) == (cfg.vae.latent_channels, 8, 8, 8)
    assert num_tokens(cfg) == 8 * 4 * 4
    with pytest.raises(ValueError, match="patch_size"):
        num_tokens(get_config("tiny", overrides={"dit.patch_size": [3, 2, 2]}))


def test_a_fresh_denoiser_learns_a_fixed_batch():
    cfg = smoke()
    torch.manual_seed(0)
    model = Denoiser(cfg)
    pool = random_pool(cfg, n=4)
    sched = make_scheduler(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        g = torch.Generator().manual_seed(0)                  # the same t and noise every step
        loss, per_sample, t = diffusion_loss(model, sched, pool.latents, pool.ids, pool.mask, g)
        assert per_sample.shape == t.shape == (4,)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("objective,prediction", [("flow", "v_prediction"), ("ddpm", "epsilon"),
                                                  ("ddpm", "v_prediction")])
def test_training_logs_the_loss_per_noise_level(tmp_path, objective, prediction):
    cfg = smoke(**{"train.objective": objective, "train.prediction_type": prediction,
                   "train.batch_size": 8})
    result = train(cfg, tmp_path, pool=random_pool(cfg), progress=False)
    assert result.step == 4 and len(result.history) == 4
    rows = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert rows == json.loads(json.dumps(result.history))
    for row in rows:
        buckets = row["loss_by_t"]
        assert list(buckets) == bucket_names(cfg.train.loss_buckets)
        seen = [v for v in buckets.values() if v is not None]
        assert seen and all(v > 0 for v in seen)
        assert min(seen) <= row["loss"] <= max(seen) + 1e-6     # the mean lies among its buckets
    t = torch.tensor([0, 999] if objective == "ddpm" else [0.0, 1.0])
    assert model_time(make_scheduler(cfg), t).tolist() == pytest.approx([0.0, 0.999 if objective == "ddpm" else 1.0])


def test_a_stopped_run_resumes_as_the_same_run(tmp_path):
    cfg = smoke()
    pool = random_pool(cfg)
    straight = train(cfg, tmp_path / "a", pool=pool, progress=False)
    first = train(cfg, tmp_path / "b", pool=pool, progress=False, until=2)
    assert first.step == 2
    resumed = train(cfg, tmp_path / "b", pool=pool, progress=False)
    assert resumed.resumed_from == 2 and resumed.step == 4
    for a, b in ((straight.model, resumed.model), (straight.ema, resumed.ema)):
        for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
            torch.testing.assert_close(p, q, rtol=0, atol=0, msg=name)
    assert [r["step"] for r in resumed.history] == [1, 2, 3, 4]
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in straight.history]
    again = train(cfg, tmp_path / "b", pool=pool, progress=False)        # finished: nothing to do
    assert again.step == 4 and again.seconds == 0.0
    with pytest.raises(ConfigMismatchError, match="dit.hidden_size"):
        train(smoke(**{"dit.hidden_size": 64}), tmp_path / "b", pool=pool, progress=False)


def test_ema_update_is_a_moving_average():
    model = torch.nn.Linear(3, 2)
    ema = EMA(model, decay=0.9)
    before = {k: v.clone() for k, v in ema.shadow.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.update(model, step=1000)                               # past the warmup: decay 0.9
    for k, p in model.state_dict().items():
        torch.testing.assert_close(ema.shadow.state_dict()[k], 0.9 * before[k] + 0.1 * p)
    assert ema.decay_at(0) == pytest.approx(0.1)              # (1 + 0) / (10 + 0): early weights fade fast
    assert ema.decay_at(10 ** 6) == 0.9
    assert not any(p.requires_grad for p in ema.shadow.parameters())


def test_guidance_dropout_happens_at_the_configured_rate():
    tok = Tokenizer()
    ids, mask = tok.encode(["a red circle moving left"] * 20000, 12)
    null_ids, null_mask = tok.encode([""], 12)
    g = torch.Generator().manual_seed(0)
    new_ids, new_mask, drop = drop_prompts(ids, mask, null_ids[0], null_mask[0], 0.1, g)
    assert abs(drop.float().mean().item() - 0.1) < 0.01
    assert torch.equal(new_ids[drop], null_ids.expand(int(drop.sum()), -1))
    assert torch.equal(new_mask[~drop], mask[~drop]) and torch.equal(new_ids[~drop], ids[~drop])
    assert tok.decode(new_ids[drop][:1], new_mask[drop][:1]) == [""]
    for p, share in ((0.0, 0.0), (1.0, 1.0)):
        assert drop_prompts(ids, mask, null_ids[0], null_mask[0], p, g)[2].float().mean() == share


def test_learning_rate_warms_up_then_decays():
    cfg = get_config("tiny", overrides={"train.steps": 1000, "train.warmup_steps": 100})
    tc = cfg.train
    lrs = [lr_at(s, tc.steps, tc.lr, tc.warmup_steps, tc.lr_min_ratio) for s in range(1000)]
    assert lrs[0] == pytest.approx(cfg.train.lr / 100) and max(lrs) == pytest.approx(cfg.train.lr)
    assert lrs[-1] == pytest.approx(cfg.train.lr * cfg.train.lr_min_ratio, rel=1e-3)
    assert all(a >= b for a, b in zip(lrs[100:], lrs[101:]))


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="train.objective"):
        train(smoke(**{"train.objective": "score"}), progress=False, pool=random_pool(smoke()))
    with pytest.raises(ValueError, match="train.cfg_dropout"):
        train(smoke(**{"train.cfg_dropout": 1.5}), progress=False, pool=random_pool(smoke()))


class _Posterior:
    def __init__(self, z):
        self.z = z

    def mode(self):
        return self.z


class LinearVAE(torch.nn.Module):
    """A VAE whose two latent channels move every pixel by GAINS[c] per unit."""

    GAINS = (2.0, 0.5)

    def __init__(self):
        super().__init__()
        self.config = type("Cfg", (), {"scaling_factor": 0.7})()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def encode(self, x):                                    # (B, 3, T, H, W) -> (B, 2, T/2, H/4, W/4)
        pooled = torch.nn.functional.avg_pool3d(x, (2, 4, 4))
        return _Posterior(torch.stack([pooled[:, 0], pooled[:, 1] * 3], dim=1))

    def decode(self, z, num_frames=None):                   # (B, 2, t, h, w) -> (B, 3, 2t, 4h, 4w)
        up = z.repeat_interleave(2, 2).repeat_interleave(4, 3).repeat_interleave(4, 4)
        mix = self.GAINS[0] * up[:, 0] + self.GAINS[1] * up[:, 1]
        return mix[:, None].expand(-1, 3, -1, -1, -1)


def test_latent_scale_weights_each_channel_by_what_it_does_to_the_pixels():
    cfg = get_config("tiny", overrides={"vae.latent_channels": 2})
    vae = LinearVAE()
    scale = latent_scale(cfg, vae)
    assert scale.shape == (2,)
    assert (scale[0] / scale[1]).item() == pytest.approx(LinearVAE.GAINS[0] / LinearVAE.GAINS[1], rel=1e-3)
    z = vae.encode(generate(cfg.world, 32, seed=5).videos).mode() * scale.view(1, -1, 1, 1, 1)
    assert z.std().item() == pytest.approx(1.0, abs=0.1)     # unit std overall, as latent diffusion wants
    cfg.train.latent_scaling = "global"
    assert latent_scale(cfg, vae).tolist() == pytest.approx([0.7, 0.7])
    cfg.train.latent_scaling = "whitened"
    with pytest.raises(ValueError, match="train.latent_scaling"):
        latent_scale(cfg, vae)
