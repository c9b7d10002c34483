"""The pipeline: prompt -> text encoder -> DiT sampling in latent space -> VAE decode (notebooks 00 and 07).

`Pipeline.from_pretrained(dir)` loads a run folder (`soralite.runs`): `config.json`, `vae/` and
`denoiser/` (whose weights are the EMA model). `pipe.generate(prompts, seed=0)` returns clips
`uint8 (N, T, H, W, 3)`. Prompts are checked against the world of the checkpoint: a word or colour
it never saw raises a `PromptError` that names it and lists what is allowed. Inference never
imports training: this module knows the models, the diffusion sampler and the run folder only.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from soralite.checkpoint import (CheckpointError, CheckpointNotFoundError, check_config, checkpoint_kind,
                                 load_pretrained, load_state_dict_strict, save_pretrained,
                                 saved_weights_sha256, weights_sha256)
from soralite import verbs
from soralite.config import HELD_OUT, Config, size_problem, window_frames
from soralite.diffusion import Known, make_scheduler, model_time, next_window, sample
from soralite.language import HeldOutWarning, PromptError, is_descriptive, parse_caption, parse_prompt
from soralite.models import Denoiser, VideoVAE, count_parameters, encode_clips, latent_shape
from soralite.runs import CONFIG_FILE, DENOISER_DIR, VAE_DIR, check_run_folder, with_defaults
from soralite.runtime import autocast_context
from soralite.safety.policy import Policy, PolicyRefusal, default_policy
from soralite.video import to_uint8
from soralite.world.prompts import upsample_prompt

SAMPLE_BATCH = 64                  # clips sampled at once (the guided batch is twice this)


class Pipeline:
    """The VAE, the tokenizer, the text encoder and the DiT, with a scheduler to sample with.

    `pipe.denoiser` holds `pipe.text_encoder` and `pipe.dit`; `pipe.vae.encode(x)` /
    `pipe.vae.decode(z)` work on model tensors; the DiT works on the VAE's latents times
    `pipe.latent_scale (C,)`, one factor per channel (`soralite.train.pool.latent_scale`; by default
    `vae.config.scaling_factor` for every channel). `pipe.policy` is the usage policy every prompt
    passes before sampling (notebook 13; default the example policy of `data/policy.json`;
    None turns it off, for research: `soralite.safety.policy.NO_POLICY_NOTE` says what that drops).
    """

    def __init__(self, config: Config, vae, denoiser: Denoiser, scheduler=None, device=None,
                 latent_scale: torch.Tensor | None = None):
        self.config = config
        self.device = torch.device(device or config.resolved_device())
        self.vae = vae.to(self.device).eval()
        self.denoiser = denoiser.to(self.device).eval()
        self.scheduler = scheduler or make_scheduler(config, for_sampling=True)
        self.step = 0                       # training steps behind the weights
        self._schedulers: dict = {}         # samplers of other sizes (their flow shift)
        self.run: Path | None = None        # the folder it was loaded from, if any
        self.policy: Policy | None = default_policy()   # checked on every prompt (notebook 13)
        C = config.vae.latent_channels
        if latent_scale is None:
            latent_scale = torch.full((C,), float(vae.config.scaling_factor))
        self.latent_scale = torch.as_tensor(latent_scale, dtype=torch.float32).reshape(-1)   # (C,)
        if self.latent_scale.numel() != C:
            raise ValueError(f"latent_scale has {self.latent_scale.numel()} values; the VAE has {C} "
                             f"latent channels")

    @property
    def dit(self):
        return self.denoiser.dit

    @property
    def text_encoder(self):
        return self.denoiser.text_encoder

    @property
    def tokenizer(self):
        return self.denoiser.tokenizer

    def __repr__(self) -> str:
        return (f"Pipeline(preset={self.config.name!r}, latent={latent_shape(self.config)}, "
                f"dit={count_parameters(self.dit) / 1e6:.2f}M, vae={count_parameters(self.vae) / 1e6:.2f}M, "
                f"scheduler={type(self.scheduler).__name__}, device={self.device})")

    # --- loading and saving ------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, device=None) -> "Pipeline":
        """Load `directory` (config.json, vae/, denoiser/); errors name what is missing or differs."""
        directory = Path(directory)
        kind = checkpoint_kind(directory)
        if kind is not None:
            raise CheckpointError(f"{directory} is a {kind} checkpoint, not a run folder: load the "
                                  f"run folder that holds it ({directory.parent})")
        if not (directory / CONFIG_FILE).is_file():
            raise CheckpointNotFoundError(f"no pipeline at {directory}: {CONFIG_FILE} is missing "
                                          f"(make one with `soralite quickstart --out {directory}`)")
        try:
            cfg = Config.from_dict(json.loads((directory / CONFIG_FILE).read_text()))
        except (json.JSONDecodeError, ValueError, TypeError) as e:
            raise ValueError(f"{directory / CONFIG_FILE} is not a soralite config: {e}") from None
        device = torch.device(device or cfg.resolved_device())
        vae = VideoVAE.from_pretrained(directory / VAE_DIR, config=cfg.vae, device=device)
        ckpt = load_pretrained(directory / DENOISER_DIR, load_extra=False)
        saved = with_defaults(ckpt.config)
        for part in ("dit", "world"):
            check_config(saved.get(part, {}), cfg.to_dict()[part], directory / DENOISER_DIR,
                         prefix=f"{part}.")
        if "latent_scale" not in ckpt.meta:
            cfg.train.latent_scaling = "global"       # saved before per-channel scales existed
        denoiser = Denoiser(cfg)
        load_state_dict_strict(denoiser, ckpt.state_dict, directory / DENOISER_DIR)
        trained_on, vae_sha = ckpt.meta.get("vae_sha256"), saved_weights_sha256(directory / VAE_DIR)
        if trained_on and vae_sha and trained_on != vae_sha:
            raise CheckpointError(
                f"the VAE at {directory / VAE_DIR} (weights sha256 {vae_sha[:12]}) is not the one "
                f"the denoiser at {directory / DENOISER_DIR} was trained on (sha256 "
                f"{trained_on[:12]}): it was retrained or replaced since. Train the denoiser on it "
                f"(soralite train --out {directory} --fresh) or put the earlier VAE back (see "
                f"{directory / 'replaced'})")
        pipe = cls(cfg, vae, denoiser, device=device, latent_scale=ckpt.meta.get("latent_scale"))
        pipe.step = int(ckpt.meta.get("step", 0))
        pipe.run = directory
        pipe._made_from = {"vae_sha256": vae_sha,
                           "denoiser_sha256": saved_weights_sha256(directory / DENOISER_DIR),
                           "step": pipe.step}
        return pipe

    @property
    def made_from(self) -> dict:
        """What this pipeline's outputs are made from: the sha256 of the VAE's and the denoiser's
        weights (as `save_pretrained` writes them) and the training step. Files derived from the
        pipeline record it (`report.json`, `soralite sample`), so they are remade when it changes."""
        if getattr(self, "_made_from", None) is None or self._made_from.get("step") != self.step:
            self._made_from = {"vae_sha256": weights_sha256(self.vae.state_dict()),
                               "denoiser_sha256": weights_sha256(self.denoiser.state_dict()),
                               "step": self.step}
        return self._made_from

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write config.json, vae/ and denoiser/ (weights only) to `directory`, each atomically;
        `directory` must be new, empty or a run folder (`soralite.runs.check_run_folder`)."""
        directory = Path(directory)
        check_run_folder(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.vae.save_pretrained(directory / VAE_DIR)
        save_pretrained(directory / DENOISER_DIR, self.config.to_dict(), self.denoiser.state_dict(),
                        meta={"kind": "denoiser", "step": self.step, "weights_only": True,
                              "latent_scale": self.latent_scale.tolist(),
                              "vae_sha256": weights_sha256(self.vae.state_dict())},
                        kind="denoiser")
        tmp = directory / (CONFIG_FILE + ".tmp")
        tmp.write_text(self.config.to_json())
        tmp.replace(directory / CONFIG_FILE)
        return directory

    # --- prompts -----------------------------------------------------------------------------
    def check_prompts(self, prompts: str | list[str], allow_empty: bool = False) -> list[str]:
        """The prompts as a list, each checked against this checkpoint's world.

        The empty prompt "" asks for an *unconditional* sample (what classifier-free guidance
        trains): it is accepted only with `allow_empty=True`, so that a blank line is not taken
        for a request. A prompt that names a held-out colour-shape pair is accepted with a
        `HeldOutWarning`: the model never saw that pair in training. Before any of that, each
        prompt passes the usage policy `self.policy` (notebook 13): a prompt it refuses raises a
        `PolicyRefusal` (a `PromptError`) that names the rule and its reason."""
        if isinstance(prompts, str):
            prompts = [prompts]
        elif not isinstance(prompts, (list, tuple)):
            raise PromptError(f"prompts must be a str or a list of str; got {type(prompts).__name__}")
        prompts = list(prompts)
        if not prompts:
            raise PromptError("no prompts given: pass a prompt or a list of them")
        held = set(map(tuple, self.config.world.held_out)) or set(HELD_OUT)
        for p in prompts:
            if not isinstance(p, str):
                raise PromptError(f"a prompt must be a str; got {type(p).__name__} ({p!r})")
            refusal = self.policy.check(p) if self.policy is not None else None
            if refusal is not None:                         # before parsing: the rule, not "unknown word"
                raise PolicyRefusal(refusal)
            if not p.strip():
                if not allow_empty:
                    raise PromptError("an empty prompt asks for an unconditional sample (no text); "
                                      "pass allow_empty=True (--allow-empty) if that is what you want")
                continue
            spec = self._parse(p)                           # PromptError names the bad word
            pairs = [f"{o.colour} {o.shape}" for o in spec.objects if (o.colour, o.shape) in held]
            if pairs and self.config.world.exclude_held_out:
                warnings.warn(f"{', '.join(pairs)} in {p!r} is a held-out pair: this model never saw "
                              f"it in training, so the sample measures compositional "
                              f"generalization", HeldOutWarning, stacklevel=2)
        return prompts

    @property
    def descriptive(self) -> bool:
        """Whether this model reads descriptive prompts too (`dit.vocabulary`, notebook 12)."""
        return self.config.dit.vocabulary == "descriptive"

    def _parse(self, prompt: str):
        """The standard part of a prompt, checked against the world: a standard caption, or with
        the descriptive vocabulary a descriptive one, word by word (`parse_caption`)."""
        try:
            return parse_caption(prompt, self.config.world, descriptive=self.descriptive)
        except PromptError as e:
            if not self.descriptive and is_descriptive(prompt):
                raise PromptError(f"{e}. This model reads standard captions only "
                                  f"(dit.vocabulary=standard): a descriptive prompt needs a model "
                                  f"trained with --set dit.vocabulary=descriptive (notebook 12)") from None
            raise

    def upsample(self, prompts, seed: int = 0) -> list[str]:
        """Prompt upsampling (the Sora report, after DALL-E 3): each standard prompt becomes a
        descriptive one that names what it leaves out (size, where each object starts, how fast
        it goes), drawn from this model's world with seed `seed + i` for prompt i
        (`soralite.world.prompts.upsample_prompt`). Descriptive and empty prompts are kept as
        they are. Needs a model that reads descriptive prompts (`dit.vocabulary=descriptive`)."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        if not self.descriptive:
            raise ValueError("upsampling writes descriptive prompts, which this model cannot read "
                             "(dit.vocabulary=standard); use a model trained with --set "
                             "dit.vocabulary=descriptive (notebook 12)")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0 (got {seed!r})")
        out = []
        for i, p in enumerate(prompts):
            if isinstance(p, str) and p.strip() and not is_descriptive(p):
                parse_prompt(p, self.config.world)              # the bad word, before any drawing
                p = upsample_prompt(p, seed=seed + i, world=self.config.world)
            out.append(p)
        return out

    @contextlib.contextmanager
    def policy_suspended(self):
        """`with pipe.policy_suspended():` samples without the usage policy: for the kit's own
        measurements of the model on its world's whole distribution (evaluation, the detector's
        data), which a policy written for requests would refuse in part."""
        saved, self.policy = self.policy, None
        try:
            yield self
        finally:
            self.policy = saved

    def review_frames(self, clips: np.ndarray) -> np.ndarray:
        """The generated `clips`, after the policy's frame rules (where one is on and a frame
        classifier attached, `Policy.with_frame_review`): a `PolicyRefusal` names the rule."""
        if self.policy is not None:
            refusal = self.policy.review(clips)
            if refusal is not None:
                raise PolicyRefusal(refusal)
        return clips

    @torch.no_grad()
    def encode_prompts(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompts -> text features `(B, L, text_dim)` and mask `(B, L)`."""
        ids, mask = self.denoiser.encode_prompts(prompts, self.device)      # (B, L), (B, L)
        return self.text_encoder(ids, mask)                                 # (B, L, D), (B, L)

    # --- sampling ----------------------------------------------------------------------------
    def _model_fn(self, scheduler):
        autocast = autocast_context(self.config, self.device)

        def model_fn(x_t, t, cond):                                         # t (B,) or (B, T)
            with autocast:
                v = self.dit(x_t, model_time(scheduler, t).to(x_t.device), cond["text"], cond["mask"],
                             cond.get("given"), cond.get("given_mask"))
            return v.float()                                                # (B, C, t, h, w)
        return model_fn

    def _sampling(self, seed, steps, guidance, scheduler):
        """Checked sampling settings with the config's defaults; `scheduler` stays None where not
        given, so that each window samples with the scheduler of its own size."""
        seed, steps, guidance = check_sampling(seed, steps, guidance)
        tc = self.config.train
        return (seed, steps or tc.sample_steps, tc.guidance_scale if guidance is None else guidance,
                scheduler)

    def scheduler_for(self, latent: tuple[int, int, int]):
        """The sampler for latents `(t, h, w)`: `pipe.scheduler` at the training size; at another
        size the same kind, with the flow shift of that size's token count (notebook 10)."""
        if tuple(latent) == tuple(latent_shape(self.config)[1:]):
            return self.scheduler
        c, s = self.vae.temporal_compression, self.vae.spatial_compression
        size = (1 if latent[0] == 1 else latent[0] * c, latent[1] * s, latent[2] * s)
        if size not in self._schedulers:
            self._schedulers[size] = make_scheduler(self.config, for_sampling=True, size=size)
        return self._schedulers[size]

    def size(self, frames: int | None = None, height: int | None = None,
             width: int | None = None) -> tuple[int, int, int]:
        """A clip size `(frames, height, width)` (None: the world's), checked: a size the VAE and
        the patch cannot cut is an error that names the nearest sizes that work."""
        w = self.config.world
        size = (w.frames if frames is None else frames, w.height if height is None else height,
                w.width if width is None else width)
        for name, v in zip(("frames", "height", "width"), size):
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"{name} must be an integer (got {v!r})")
        problem = size_problem(self.config, *size)
        if problem:
            raise ValueError(problem)
        return size

    @property
    def window(self) -> int:
        """Latent frames of one window: the longest clips the model trained on (`train.sizes`,
        else the world's); a size it trained on is sampled whole, longer videos slide windows."""
        return self.latent_frames(window_frames(self.config))

    @torch.no_grad()
    def sample_latents(self, prompts: list[str], frames: int, generator: torch.Generator,
                       steps: int, guidance: float, scheduler=None, known: Known | None = None,
                       strength: float | None = None, init: torch.Tensor | None = None,
                       return_trajectory: bool = False, progress: bool = False,
                       batch_size: int = SAMPLE_BATCH, hw: tuple[int, int] | None = None):
        """One window: scaled latents `(N, C, frames, h, w)` for checked `prompts`, from noise drawn
        from `generator`, conditioned on `known` given frames (`soralite.diffusion.Known`) and/or
        edited from `init` at `strength` (SDEdit); the building block of every verb. `hw` is the
        latent's `(h, w)` (default the training size's); `scheduler` None picks the size's own."""
        N = len(prompts)
        C, _, h, w = latent_shape(self.config)
        h, w = hw or (h, w)
        scheduler = scheduler or self.scheduler_for((frames, h, w))
        shape = (N, C, frames, h, w)
        noise = torch.randn(shape, generator=generator)                     # (N, C, T, h, w)
        text, mask = self.encode_prompts(prompts)                          # (N, L, D), (N, L)
        null_text, null_mask = self.encode_prompts([""] * N)
        if return_trajectory:
            batch_size = N                                                  # one trajectory
        out, trajectory = [], None
        for i in range(0, N, batch_size):
            sl = slice(i, i + batch_size)
            part = None if known is None else Known(known.latents[sl], known.mask[sl], known.level)
            res = sample(self._model_fn(scheduler), scheduler, tuple(noise[sl].shape),
                         cond={"text": text[sl], "mask": mask[sl]},
                         uncond={"text": null_text[sl], "mask": null_mask[sl]},
                         guidance_scale=guidance, steps=steps, noise=noise[sl].to(self.device),
                         device=self.device, return_trajectory=return_trajectory,
                         progress=progress, generator=generator, known=part, strength=strength,
                         init=None if init is None else init[sl],
                         guide_given=self.config.train.history_guidance,
                         given_scale=self.config.train.history_guidance_scale or None)
            if return_trajectory:
                res, trajectory = res
            out.append(res)
        z = torch.cat(out)                                                  # (N, C, T, h, w)
        return (z, trajectory) if return_trajectory else z

    @torch.no_grad()
    def fill_latents(self, timeline: torch.Tensor, known: torch.Tensor, prompts: list[str],
                     generator: torch.Generator, steps: int, guidance: float, scheduler,
                     direction: str = "forward", progress: bool = False) -> torch.Tensor:
        """Make every latent frame of `timeline (N, C, L, h, w)` that `known (L,)` marks False, window
        by window (`soralite.diffusion.next_window`): each window of `window` latent frames holds
        the frames it makes and the known or already made frames around them, which it is
        conditioned on. This is extension, connection, filling and long videos at once."""
        known = torch.as_tensor(known, dtype=torch.bool).clone()           # (L,)
        timeline = timeline.clone()
        level = self.config.train.context_noise
        while not bool(known.all()):
            s, e = next_window(known, self.window, self.config.train.window_overlap, direction)
            mask = known[s:e][None].expand(len(prompts), -1)               # (N, e - s)
            given = Known(timeline[:, :, s:e], mask, level) if bool(mask.any()) else None
            timeline[:, :, s:e] = self.sample_latents(
                prompts, e - s, generator, steps, guidance, scheduler, known=given,
                progress=progress, hw=tuple(timeline.shape[3:])).to(timeline.device)
            known[s:e] = True
        return timeline

    @torch.no_grad()
    def generate_latents(self, prompts, seed: int = 0, steps: int | None = None,
                         guidance: float | None = None, return_trajectory: bool = False,
                         progress: bool = False, batch_size: int = SAMPLE_BATCH, scheduler=None,
                         allow_empty: bool = False, frames: int | None = None,
                         height: int | None = None, width: int | None = None):
        """Scaled latents `(N, C, t, h, w)` for the prompts (and the `Trajectory` if asked);
        `scheduler` samples instead of `pipe.scheduler` for this call; any size `frames x height
        x width` the patch divides (`size`); `frames` longer than `window` are made by
        a sliding window (`fill_latents`)."""
        prompts = self.check_prompts(prompts, allow_empty)
        seed, steps, guidance, scheduler = self._sampling(seed, steps, guidance, scheduler)
        C, T, h, w = latent_shape(self.config, self.size(frames, height, width))
        generator = torch.Generator().manual_seed(seed)
        if T <= self.window:
            return self.sample_latents(prompts, T, generator, steps, guidance, scheduler,
                                       return_trajectory=return_trajectory, progress=progress,
                                       batch_size=batch_size, hw=(h, w))
        if return_trajectory:
            raise ValueError(f"return_trajectory needs one window: frames <= "
                             f"{window_frames(self.config)}")
        timeline = torch.zeros(len(prompts), C, T, h, w)
        return self.fill_latents(timeline, torch.zeros(T, dtype=torch.bool), prompts, generator,
                                 steps, guidance, scheduler, progress=progress)

    def latent_frames(self, frames: int | None) -> int:
        """How many latent frames a clip of `frames` frames has (None: the training length); a
        clear error where the VAE cannot split it."""
        if frames is None:
            return latent_shape(self.config)[1]
        if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
            raise ValueError(f"frames must be an integer >= 1 (got {frames!r})")
        return self.vae.latent_frames(frames)

    def encode_clips(self, clips) -> torch.Tensor:
        """Clips `uint8 (N, T, H, W, 3)` -> the DiT's latents `(N, C, t, h, w)` (scaled)."""
        return encode_clips(self.vae, clips, device=self.device, scale=self.latent_scale)

    @torch.no_grad()
    def decode_latents(self, z: torch.Tensor, frames: int | None = None) -> np.ndarray:
        """The DiT's latents `(N, C, t, h, w)` -> clips `uint8 (N, T, H, W, 3)`, `T = t * c` (or 1,
        an image, where `frames=1` or the world's clips are images)."""
        scale = self.latent_scale.to(self.device).view(1, -1, 1, 1, 1)     # (1, C, 1, 1, 1)
        if frames is None and z.shape[2] == 1 and self.config.world.frames == 1:
            frames = 1
        clips = []
        for i in range(0, len(z), SAMPLE_BATCH):
            zz = z[i:i + SAMPLE_BATCH].to(self.device) / scale
            x = self.vae.decode(zz, num_frames=frames)                      # (b, 3, T, H, W)
            clips.append(to_uint8(x))
        return np.concatenate(clips)                                        # (N, T, H, W, 3)

    def generate(self, prompts, seed: int = 0, steps: int | None = None, guidance: float | None = None,
                 return_trajectory: bool = False, progress: bool = False, scheduler=None,
                 allow_empty: bool = False, frames: int | None = None, height: int | None = None,
                 width: int | None = None, upsample: bool = False):
        """Clips `uint8 (N, T, H, W, 3)` for the prompts; the same seed gives the same clips.

        `steps` and `guidance` (the guidance_scale) default to `config.train.sample_steps` and
        `config.train.guidance_scale`; `scheduler` (any of `soralite.diffusion`) samples instead
        of `pipe.scheduler`. `frames` (default: the training length; 1 or a multiple of the
        VAE's temporal compression) longer than the longest clips it trained on (`window`) are
        made by a sliding window in which each window is conditioned on the last
        `train.window_overlap` latent frames of the one before. `frames`, `height`, `width` ask
        for any size the patch divides (notebook 10); `frames=1` gives images `(N, 1, H, W, 3)`, and each size samples with the
        flow shift of its token count. With `return_trajectory`, returns `(clips, trajectory)`, the sampler's
        `Trajectory` of scaled latents. `allow_empty` accepts the empty prompt "" (an
        unconditional sample); see `check_prompts`. `upsample` first turns each standard prompt
        into a descriptive one (`upsample`, notebook 12), for a model that reads them."""
        if upsample:
            prompts = self.upsample(self.check_prompts(prompts, allow_empty), seed)
        res = self.generate_latents(prompts, seed, steps, guidance, return_trajectory, progress,
                                    scheduler=scheduler, allow_empty=allow_empty, frames=frames,
                                    height=height, width=width)
        z, trajectory = res if return_trajectory else (res, None)
        clips = self.review_frames(self.decode_latents(z, frames))
        return (clips, trajectory) if return_trajectory else clips

    __call__ = generate

    # --- every task of one model (notebook 09; soralite.verbs) ----------------------------------
    def animate(self, images, prompts, seed: int = 0, frames: int | None = None, **kwargs) -> np.ndarray:
        """Clips whose first frame is the image: `(H, W, 3)` or `(N, H, W, 3)` -> `(N, T, H, W, 3)`."""
        return self.review_frames(verbs.animate(self, images, prompts, seed=seed, frames=frames, **kwargs))

    def extend(self, clips, prompts, frames: int, direction: str = "forward", seed: int = 0,
               **kwargs) -> np.ndarray:
        """`(N, T + frames, H, W, 3)`: `frames` new frames after the clip, or before it (`"backward"`)."""
        return self.review_frames(verbs.extend(self, clips, prompts, frames, direction=direction,
                                               seed=seed, **kwargs))

    def connect(self, clips_a, clips_b, prompts, frames: int, seed: int = 0, **kwargs) -> np.ndarray:
        """`(N, Ta + frames + Tb, H, W, 3)`: A, `frames` new frames leading into B's start, then B."""
        return self.review_frames(verbs.connect(self, clips_a, clips_b, prompts, frames, seed=seed,
                                                **kwargs))

    def fill(self, clips, known, prompts, seed: int = 0, **kwargs) -> np.ndarray:
        """The clips with the frames where `known[t]` is False made new."""
        return self.review_frames(verbs.fill(self, clips, known, prompts, seed=seed, **kwargs))

    def loop(self, prompts, frames: int | None = None, seed: int = 0, **kwargs) -> np.ndarray:
        """A clip whose last frame leads into its first."""
        return self.review_frames(verbs.loop(self, prompts, frames=frames, seed=seed, **kwargs))

    def edit(self, clips, prompts, strength: float | None = None, seed: int = 0, **kwargs) -> np.ndarray:
        """The clips re-made from the prompt (SDEdit); `strength` is the share of the schedule re-run."""
        return self.review_frames(verbs.edit(self, clips, prompts, strength=strength, seed=seed,
                                             **kwargs))


def check_sampling(seed, steps, guidance) -> tuple[int, int | None, float | None]:
    """Raise `ValueError` naming a sampling setting out of range: `seed` an integer >= 0, `steps`
    None or an integer >= 1, `guidance` None or a finite number."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0 (got {seed!r})")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ValueError(f"steps must be an integer >= 1, or None for the config's "
                         f"train.sample_steps (got {steps!r})")
    if guidance is not None and (isinstance(guidance, bool) or not isinstance(guidance, (int, float))
                                 or not math.isfinite(guidance)):
        raise ValueError(f"guidance must be a finite number (1 = no guidance, 0 = unconditional); "
                         f"leave it out for the config's train.guidance_scale (got {guidance!r})")
    return seed, steps, guidance


__all__ = ["Pipeline", "SAMPLE_BATCH", "check_sampling"]
