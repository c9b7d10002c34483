"""Training the detection classifier on a pipeline's samples against world clips (notebook 13;
`soralite train-detector`).

The data are pairs (`soralite.eval.detection.paired_clips`): captions drawn from the pipeline's
world on the `detector_train` seed stream, the pipeline's samples for them (label 1) and the
world's own clips of the same captions (label 0). A share `detector.mp4_share` of both is
re-encoded once as `.mp4`, and each training clip is perturbed with chance `detector.augment`
(Gaussian noise, a blur by shrinking and enlarging, or a crop enlarged back), the same way for
both classes, so that the detector cannot learn "exact palette colours = world" alone. Each batch
holds as many generated clips as world clips; the loss is the clip classifier's binary cross
entropy plus `frame_weight` times the frame classifier's (every frame has its clip's label).
It runs through the shared fit loop (`soralite.train.loop.fit`); it trains in seconds at `smoke`
and in about a minute at `tiny`, most of it spent sampling, so it is not resumed: a second call
trains anew.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from soralite.checkpoint import check_target
from soralite.config import DetectorConfig
from soralite.eval.detection import paired_clips, reencode_mp4, roc_auc
from soralite.pipeline import Pipeline
from soralite.safety.detector import Detector
from soralite.seeds import stream_seed
from soralite.train.loop import fit
from soralite.video import to_tensor

NOISE_MAX = 0.08                   # augmentation noise std, in model units ([-1, 1]: 0.08 ~ 10 of 255)
SHRINK_MIN = 0.5                   # blur: shrink to this share at most, then enlarge back
CROP_MIN = 0.7                     # crop: keep this share of each side at least, then enlarge back
HISTORY_EVERY = 10


def augment(x: torch.Tensor, chance: float, generator: torch.Generator) -> torch.Tensor:
    """Perturb each clip of `x (B, 3, T, H, W)` with chance `chance`: noise, blur or crop."""
    B, _, T, H, W = x.shape
    out = x.clone()
    pick = torch.rand(B, generator=generator) < chance
    kind = torch.randint(0, 3, (B,), generator=generator)
    for b in torch.nonzero(pick).flatten().tolist():
        u = float(torch.rand(1, generator=generator))
        frames = out[b].movedim(1, 0)                                      # (T, 3, H, W)
        if kind[b] == 0:
            frames = frames + NOISE_MAX * u * torch.randn(frames.shape, generator=generator)
        elif kind[b] == 1:
            s = SHRINK_MIN + (1 - SHRINK_MIN) * u
            small = F.interpolate(frames, size=(max(4, round(H * s)), max(4, round(W * s))),
                                  mode="area")
            frames = F.interpolate(small, size=(H, W), mode="bilinear", align_corners=False)
        else:
            s = CROP_MIN + (1 - CROP_MIN) * u
            h, w = max(4, round(H * s)), max(4, round(W * s))
            top = int(torch.randint(0, H - h + 1, (1,), generator=generator))
            left = int(torch.randint(0, W - w + 1, (1,), generator=generator))
            frames = F.interpolate(frames[..., top:top + h, left:left + w], size=(H, W),
                                   mode="bilinear", align_corners=False)
        out[b] = frames.clamp(-1, 1).movedim(0, 1)                         # (3, T, H, W)
    return out


class DetectorStage:
    """The detector's part of `fit`: balanced batches of generated and world clips."""

    def __init__(self, cfg: DetectorConfig, model: Detector, generated: torch.Tensor,
                 world: torch.Tensor, generator: torch.Generator, device: torch.device,
                 out: Path | None, meta: dict):
        self.cfg, self.model, self.device, self.out, self.meta = cfg, model, device, out, meta
        self.generated, self.world, self.generator = generated, world, generator
        self.history: list[dict] = []

    def loss(self, step: int):
        half = max(1, self.cfg.batch_size // 2)
        g = torch.randint(0, len(self.generated), (half,), generator=self.generator)
        w = torch.randint(0, len(self.world), (half,), generator=self.generator)
        x = torch.cat([self.generated[g], self.world[w]])                   # (B, 3, T, H, W)
        x = augment(x, self.cfg.augment, self.generator).to(self.device)
        y = torch.cat([torch.ones(half), torch.zeros(half)]).to(self.device)   # (B,)
        clip_logits, frame_logits = self.model(x)                           # (B,), (B, T)
        clip_loss = F.binary_cross_entropy_with_logits(clip_logits, y)
        frame_loss = F.binary_cross_entropy_with_logits(frame_logits, y[:, None].expand_as(frame_logits))
        accuracy = ((clip_logits > 0).float() == y).float().mean()
        return clip_loss + self.cfg.frame_weight * frame_loss, {
            "clip_loss": clip_loss.item(), "frame_loss": frame_loss.item(), "accuracy": accuracy.item()}

    def after_step(self, step: int, info: dict) -> dict:
        if step % HISTORY_EVERY == 0 or step == self.cfg.steps or step == 1:
            self.history.append({"step": step, "loss": round(info["loss"].item(), 5),
                                 "clip_loss": round(info["clip_loss"], 5),
                                 "accuracy": round(info["accuracy"], 4)})
        return {"loss": f"{info['loss'].item():.4f}", "acc": f"{info['accuracy']:.2f}"}

    def save(self, step: int, stopping: bool) -> None:
        if self.out is not None and stopping:
            self.model.save_pretrained(self.out, {**self.meta, "step": step, "history": self.history})


def training_data(pipe: Pipeline, cfg: DetectorConfig, seed: int | None = None,
                  progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The detector's training clips as model tensors: generated `(n, 3, T, H, W)` and world ones,
    with a share `cfg.mp4_share` of each re-encoded as .mp4 once."""
    generated, world, _ = paired_clips(pipe, cfg.train_clips, "detector_train", seed, progress=progress)
    k = round(cfg.mp4_share * len(generated))
    if k:
        fps = pipe.config.world.fps
        generated = np.concatenate([reencode_mp4(generated[:k], fps), generated[k:]])
        world = np.concatenate([reencode_mp4(world[:k], fps), world[k:]])
    return to_tensor(generated), to_tensor(world)


@torch.no_grad()
def _clip_probabilities(model: Detector, x: torch.Tensor, device, batch: int = 64) -> np.ndarray:
    return torch.cat([torch.sigmoid(model(x[i:i + batch].to(device))[0]).cpu()
                      for i in range(0, len(x), batch)]).numpy()


def train_detector(pipe: Pipeline, cfg: DetectorConfig | None = None,
                   out: str | Path | None = None, seed: int | None = None,
                   progress: bool = True, log=print) -> tuple[Detector, dict]:
    """Train a `Detector` on samples of `pipe` against world clips; save it to `out` if given.

    `cfg` defaults to the pipeline's `config.detector`; `seed` to its `config.seed`. Returns the
    detector (in eval mode) and a report: seconds spent sampling and training, the last training
    accuracy and the AUC on the training clips themselves (a check that it learned, not a
    measure: `soralite.eval.detection.evaluate_detector` measures on held-out clips)."""
    cfg = cfg or pipe.config.detector
    seed = pipe.config.seed if seed is None else seed
    out = Path(out) if out is not None else None
    if out is not None:
        check_target(out, "detector")            # before any work: never into a stranger's folder
    device = torch.device(pipe.device)
    t0 = time.perf_counter()
    generated, world = training_data(pipe, cfg, seed, progress=progress)
    t_data = time.perf_counter() - t0
    log(f"[train-detector] {len(generated)} samples of {pipe.config.name} and {len(world)} world "
        f"clips in {t_data:.1f} s")
    torch.manual_seed(stream_seed(seed, "init"))
    model = Detector(cfg).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(stream_seed(seed, "detector_batches"))
    meta = {"trained_on": dict(pipe.made_from), "preset": pipe.config.name, "seed": seed,
            "run": str(pipe.run) if pipe.run else None, "train_clips": cfg.train_clips}
    stage = DetectorStage(cfg, model, generated, world, generator, device, out, meta)
    t = time.perf_counter()
    result = fit(stage, model, optimizer, start=0, stop=cfg.steps, total=cfg.steps, base_lr=cfg.lr,
                 warmup=cfg.warmup_steps, grad_clip=1.0, device=device, progress=progress,
                 desc=f"detector ({pipe.config.name})", log=log)
    t_train = time.perf_counter() - t
    model.eval()
    pg, pw = (_clip_probabilities(model, x, device) for x in (generated, world))
    report = {"out": str(out) if out else None, "steps": result.step,
              "train_clips": len(generated),
              "train_auc": round(roc_auc(np.r_[pg, pw], np.r_[np.ones(len(pg)), np.zeros(len(pw))]), 4),
              "last": stage.history[-1] if stage.history else None,
              "seconds": {"sampling": round(t_data, 1), "training": round(t_train, 1),
                          "total": round(time.perf_counter() - t0, 1)},
              "parameters": sum(p.numel() for p in model.parameters())}
    model.meta = {**meta, "step": result.step}
    return model, report


__all__ = ["augment", "DetectorStage", "training_data", "train_detector"]
