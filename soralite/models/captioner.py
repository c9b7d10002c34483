"""A learned video captioner: a clip in, every object's attributes out (notebook 12).

The Sora report trains on highly descriptive captions that a captioner model wrote (the method of
DALL-E 3, Betker et al. 2023). This is that captioner at the toy world's scale. It reads a clip
`(B, 3, T, H, W)` in [-1, 1] and answers, for each *slot*, whether that object is there and what
it is. The slots are the palette's colours, in the palette's order: colours are distinct within a
clip, so slot k means "the object of colour k", and the set of answers is canonical (no matching
of predictions to objects is needed, unlike DETR's). The network is built as the tracker works,
but learned:

1. `pixel_logits`: a linear per-pixel classifier labels every pixel background, wall, or one of
   the K colours (started as the nearest-mean classifier of labelled pixels, `init_from_data`);
   its softmax gives every slot a soft mask `(B, T, H, W, K)`;
2. `trajectories`: each slot's mask gives, per frame, its area, its centroid (a soft-argmax, as
   in spatial-softmax keypoints, Levine et al. 2016), the velocity, and its shape moments (the
   spreads, the cross kurtosis that tells a square from a disc, the vertical skewness that tells a
   triangle): a track of 9 numbers a frame, from the mask's row and column sums;
3. `shape_features` (optional, `channels > 0`): a small CNN over the foreground (any colour) of
   every `frame_stride`-th frame, pooled under each slot's mask; the moments alone are the default,
   which trains several times faster on a CPU;
4. `heads`: one MLP, shared by every slot, reads a slot's track (and pooled features) and writes
   presence, shape, size, motion (logits), start `(x, y)` (shares of W and H, as a correction to
   the first frame's centroid; the last layer starts at zero) and speed (units of min(H, W) per
   frame); a wall head reads the wall class's column profile. Shared heads and colour-blind
   features read a shape the same way whatever its colour, the held-out colour-shape pairs
   included.

It knows neither the world nor training: the names of the classes are given to it (by default the
fixed vocabulary of `soralite.config`), and `predict` returns plain attribute dicts that
`soralite.world.captions.caption_from_attributes` writes as captions.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from soralite.checkpoint import CheckpointError, load_pretrained, load_state_dict_strict, save_pretrained
from soralite.config import COLOURS, MOTIONS, SHAPES, SIZES, CaptionerConfig

KIND = "captioner"                   # the checkpoint kind (manifest.json)
BACKGROUND, WALL = 0, 1              # pixel classes before the K colours
SPEED_UNIT = 0.04                    # speeds are regressed in this unit (the world's fastest straight speed)
MASK_EPS = 1.0                       # pixels of prior mass at the frame's centre: a hidden slot's centroid
MAX_OBJECTS = 3                      # a scene holds at most three objects (docs/world.md)
MOMENT_EPS = 1e-4                    # m^2 added to a variance (a hidden slot has none)
TRACK_FEATURES = 9                   # per frame: x, y, area, vx, vy, std x, std y, cross kurtosis, skew
WALL_SCALE = 10.0                    # the wall head's inputs (column shares) brought to about unit size
INIT_SHARPNESS = 20.0                # logits per unit of squared colour distance at the start


@dataclass
class CaptionerOutput:
    """What the heads say, per slot k (a colour): logits and regressions."""

    presence: torch.Tensor           # (B, K) logits
    shape: torch.Tensor              # (B, K, n_shapes) logits
    size: torch.Tensor               # (B, K, n_sizes) logits
    motion: torch.Tensor             # (B, K, n_motions) logits
    start: torch.Tensor              # (B, K, 2) x, y as shares of W and H
    speed: torch.Tensor              # (B, K) units of min(H, W) per frame
    wall: torch.Tensor               # (B,) logits
    pixel_logits: torch.Tensor       # (B, T, H, W, K + 2): background, wall, the colours


class Captioner(nn.Module):
    """Clips `(B, 3, T, H, W)` in [-1, 1] -> `CaptionerOutput`; `predict` -> attribute dicts.

    `frames` is the clip length it reads (its tracks have that many frames); any height and width
    work (positions are shares, speeds units of min(H, W)). Built in notebook 12.
    """

    def __init__(self, config: CaptionerConfig, frames: int, colours: tuple[str, ...] = COLOURS,
                 shapes: tuple[str, ...] = SHAPES, sizes: tuple[str, ...] = SIZES,
                 motions: tuple[str, ...] = MOTIONS):
        super().__init__()
        self.config, self.frames = config, int(frames)
        self.colours, self.shapes = tuple(colours), tuple(shapes)
        self.sizes, self.motions = tuple(sizes), tuple(motions)
        K, C, P = len(self.colours), config.channels, config.pixel_hidden
        self.pixel = (nn.Sequential(nn.Linear(3, P), nn.GELU(), nn.Linear(P, K + 2)) if P   # per pixel
                      else nn.Linear(3, K + 2))
        self.frame_cnn = nn.Sequential(                                  # foreground -> geometry
            nn.Conv2d(1, C, 3, padding=1), nn.GELU(),
            nn.Conv2d(C, C, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(C, C, 3, padding=1), nn.GELU()) if C else None
        track = TRACK_FEATURES * self.frames                             # the track, frame by frame
        n_out = 1 + len(self.shapes) + len(self.sizes) + len(self.motions) + 2 + 1
        self.slot_mlp = nn.Sequential(nn.Linear(C + track, config.hidden), nn.GELU(),
                                      nn.Linear(config.hidden, config.hidden), nn.GELU(),
                                      nn.Linear(config.hidden, n_out))
        nn.init.zeros_(self.slot_mlp[-1].weight)                         # a fresh model starts at the
        nn.init.zeros_(self.slot_mlp[-1].bias)                           # first frame's centroid
        self.wall_head = nn.Linear(2, 1)                                 # column profile -> logit
        with torch.no_grad():                     # start as the tracker's rule: a column mostly
            self.wall_head.weight.copy_(torch.tensor([[1.0, 0.0]]))     # wall gray is a wall
            self.wall_head.bias.zero_()
        # the tracks' features brought to about unit size (x, y, area, vx, vy, std x, std y, cross, skew)
        self.register_buffer("track_offset", torch.tensor([0.5, 0.5, 0, 0, 0, 0, 0, 1, 0]), persistent=False)
        self.register_buffer("track_scale", torch.tensor(
            [2.0, 2.0, 10.0, 1 / SPEED_UNIT, 1 / SPEED_UNIT, 10.0, 10.0, 2.0, 1.0]), persistent=False)

    @property
    def num_slots(self) -> int:
        return len(self.colours)

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor, labels: torch.Tensor, sharpness: float = INIT_SHARPNESS) -> None:
        """Start the pixel classifier as the nearest-mean classifier of labelled pixels: clips
        `x (B, 3, T, H, W)` and each pixel's class `labels (B, T, H, W)` (0 background, 1 wall,
        2 + k colour k). Class k scores `sharpness (mu_k . p - |mu_k|^2 / 2)`, which is highest
        for the nearest class mean; a class never seen keeps a score far below the others. As the
        VAE starts from the best linear code (notebook 03), the captioner starts from masks that
        are already right, and training refines them. Only for the linear classifier
        (`pixel_hidden = 0`)."""
        if not isinstance(self.pixel, nn.Linear):
            return
        p = x.movedim(1, -1).reshape(-1, 3)                               # (N, 3) pixels
        y = labels.reshape(-1).to(p.device)                               # (N,)
        weight = torch.zeros_like(self.pixel.weight)                      # (K + 2, 3)
        bias = torch.full_like(self.pixel.bias, -1e3)                     # unseen classes: never
        for k in range(weight.shape[0]):
            hit = y == k
            if hit.any():
                mu = p[hit].mean(0)                                       # (3,)
                weight[k], bias[k] = sharpness * mu, -sharpness * mu.dot(mu) / 2
        self.pixel.weight.copy_(weight)
        self.pixel.bias.copy_(bias.clamp_min(-50.0))

    # --- the four steps --------------------------------------------------------------------
    def pixel_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Step 1: `(B, 3, T, H, W)` -> logits `(B, T, H, W, K + 2)` of background, wall and the
        colours, per pixel (channels last: the classes of a pixel side by side)."""
        return self.pixel(x.movedim(1, -1))                              # (B, T, H, W, K + 2)

    @staticmethod
    def trajectories(masks: torch.Tensor) -> torch.Tensor:
        """Step 2: slot masks `(B, T, H, W, K)` -> tracks `(B, K, T, TRACK_FEATURES)`, per frame:
        the centroid x, y (shares of W and H; a hidden slot's is pulled to the frame's centre),
        the area (share of the frame), the velocity vx, vy (units of min(H, W) per frame; the last
        frame repeats the one before), and the mask's shape moments about its own centroid
        (lengths in units of m = min(H, W)): the spreads `std_x`, `std_y`, the *cross kurtosis*
        `E[dx^2 dy^2] / (var_x var_y)` (1 for a square, whose x and y are independent; about 2/3
        for a disc) and the vertical skewness (a triangle, wide at the bottom, leans one way; a
        square and a disc none). Everything but the cross kurtosis comes from the mask's row and
        column sums, so only one product runs over every pixel."""
        B, T, H, W, K = masks.shape
        m = min(H, W)
        xs = (torch.arange(W, device=masks.device, dtype=masks.dtype) + 0.5)[:, None]   # (W, 1) pixels
        ys = (torch.arange(H, device=masks.device, dtype=masks.dtype) + 0.5)[:, None]   # (H, 1)
        mx, my = masks.sum(2), masks.sum(3)                                          # (B, T, W, K), (B, T, H, K)
        mass = mx.sum(2)                                                             # (B, T, K)
        sx, sy = (mx * xs).sum(2), (my * ys).sum(2)                                  # (B, T, K)
        norm = mass + MASK_EPS
        cx = (sx + MASK_EPS * W / 2) / norm                                          # (B, T, K) px
        cy = (sy + MASK_EPS * H / 2) / norm
        own = mass + 1e-6
        dx = (xs - (sx / own)[:, :, None]) / m                                       # (B, T, W, K)
        dy = (ys - (sy / own)[:, :, None]) / m                                       # (B, T, H, K)
        var_x = (mx * dx ** 2).sum(2) / norm + MOMENT_EPS                            # (B, T, K)
        var_y = (my * dy ** 2).sum(2) / norm + MOMENT_EPS
        rows = (masks * (dx ** 2)[:, :, None]).sum(3)                                # (B, T, H, K)
        cross = (rows * dy ** 2).sum(2) / norm / (var_x * var_y)                     # (B, T, K)
        skew = (my * dy ** 3).sum(2) / norm / var_y ** 1.5
        vx = torch.diff(cx, dim=1, append=cx[:, -1:]) / m                            # (B, T, K)
        vy = torch.diff(cy, dim=1, append=cy[:, -1:]) / m
        if T > 1:                                     # the last frame's velocity: the one before it
            vx = torch.cat([vx[:, :-1], vx[:, -2:-1]], dim=1)
            vy = torch.cat([vy[:, :-1], vy[:, -2:-1]], dim=1)
        tracks = torch.stack([cx / W, cy / H, mass / (H * W), vx, vy, var_x.sqrt(), var_y.sqrt(),
                              cross.clamp(0, 4), skew.clamp(-4, 4)], dim=-1)        # (B, T, K, 9)
        return tracks.transpose(1, 2)                                                # (B, K, T, 9)

    def shape_features(self, foreground: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Step 3 (with `channels > 0`; by default the moments of step 2 stand in for it): the
        foreground `(B, T, H, W)` and slot masks `(B, T, H, W, K)` -> each slot's geometry
        features `(B, K, C)` from a small CNN, pooled under its mask over space and every
        `frame_stride`-th frame."""
        B, T, H, W, K = masks.shape
        if self.frame_cnn is None:
            return masks.new_zeros(B, K, 0)
        masks = masks.permute(0, 4, 1, 2, 3)                             # (B, K, T, H, W)
        step = self.config.frame_stride
        fg = foreground[:, ::step]                                       # (B, T', H, W)
        Tp = fg.shape[1]
        f = self.frame_cnn(fg.reshape(B * Tp, 1, H, W))                  # (B T', C, H/2, W/2)
        f = f.reshape(B, Tp, *f.shape[1:])                               # (B, T', C, h, w)
        m = masks[:, :, ::step]                                          # (B, K, T', H, W)
        m = F.adaptive_avg_pool2d(m.reshape(B * K * Tp, 1, H, W), f.shape[-2:])
        m = m.reshape(B, K, Tp, *f.shape[-2:])                           # (B, K, T', h, w)
        pooled = torch.einsum("bktyx,btcyx->bkc", m, f)                  # (B, K, C)
        return pooled / (m.sum((2, 3, 4))[..., None] + 1e-3)            # (B, K, C)

    def heads(self, features: torch.Tensor, tracks: torch.Tensor) -> dict[str, torch.Tensor]:
        """Step 4: features `(B, K, C)` and tracks `(B, K, T, 9)` -> every slot's answers, from
        one MLP shared by the slots (so what it learns of one colour holds for every colour)."""
        centred = (tracks - self.track_offset) * self.track_scale        # (B, K, T, 9) about unit size
        z = torch.cat([features, centred.flatten(-2)], dim=-1)          # (B, K, C + 9T)
        out = self.slot_mlp(z)                                           # (B, K, n_out)
        S, Z, M = len(self.shapes), len(self.sizes), len(self.motions)
        presence, shape, size, motion, start, speed = out.split([1, S, Z, M, 2, 1], dim=-1)
        start = start + tracks[:, :, 0, :2]                              # from the first frame's centroid
        return {"presence": presence[..., 0], "shape": shape, "size": size, "motion": motion,
                "start": start, "speed": speed[..., 0] * SPEED_UNIT}

    def forward(self, x: torch.Tensor) -> CaptionerOutput:
        if x.ndim != 5 or x.shape[1] != 3 or x.shape[2] != self.frames:
            raise ValueError(f"the captioner reads clips (B, 3, {self.frames}, H, W); got "
                             f"{tuple(x.shape)}")
        logits = self.pixel_logits(x)                                    # (B, T, H, W, K + 2)
        probs = logits.softmax(-1)
        masks = probs[..., 2:]                                           # (B, T, H, W, K)
        foreground = 1 - probs[..., BACKGROUND] - probs[..., WALL]       # (B, T, H, W)
        tracks = self.trajectories(masks)                                # (B, K, T, 9)
        heads = self.heads(self.shape_features(foreground, masks), tracks)
        columns = probs[..., WALL].mean((1, 2))                          # (B, W) wall share per column
        profile = torch.stack([columns.max(-1).values - 0.5, columns.mean(-1)], -1)   # (B, 2)
        wall = self.wall_head(WALL_SCALE * profile)[..., 0]              # (B,)
        return CaptionerOutput(wall=wall, pixel_logits=logits, **heads)

    # --- reading ---------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 64) -> list[dict]:
        """Clips `(N, 3, T, H, W)` -> per clip `{"objects": [...], "wall": bool}`: the present
        slots (at most `MAX_OBJECTS`, the likeliest) in colour order, each
        `{colour, shape, size, motion, start_x, start_y, speed, confidence}`."""
        was = self.training
        self.eval()
        device = next(self.parameters()).device
        out = []
        for i in range(0, len(x), batch_size):
            o = self(x[i:i + batch_size].to(device))
            p = o.presence.sigmoid().cpu()                               # (b, K)
            for b in range(len(p)):
                keep = [k for k in range(self.num_slots) if p[b, k] > 0.5]
                keep = sorted(sorted(keep, key=lambda k: -float(p[b, k]))[:MAX_OBJECTS])
                objects = []
                for k in keep:
                    sx, sy = o.start[b, k].clamp(0, 1).tolist()
                    objects.append({"colour": self.colours[k],
                                    "shape": self.shapes[int(o.shape[b, k].argmax())],
                                    "size": self.sizes[int(o.size[b, k].argmax())],
                                    "motion": self.motions[int(o.motion[b, k].argmax())],
                                    "start_x": round(sx, 4), "start_y": round(sy, 4),
                                    "speed": round(max(0.0, float(o.speed[b, k])), 6),
                                    "confidence": round(float(p[b, k]), 4)})
                out.append({"objects": objects, "wall": bool(o.wall[b] > 0)})
        self.train(was)
        return out

    # --- saving and loading ----------------------------------------------------------------
    def config_dict(self) -> dict:
        return {"captioner": dataclasses.asdict(self.config), "frames": self.frames,
                "colours": list(self.colours), "shapes": list(self.shapes),
                "sizes": list(self.sizes), "motions": list(self.motions)}

    def save_pretrained(self, directory: str | os.PathLike, meta: dict | None = None,
                        extra_tensors: dict | None = None) -> Path:
        """Write `config.json` and the weights atomically (`soralite.checkpoint`, kind "captioner")."""
        return save_pretrained(directory, self.config_dict(), self.state_dict(),
                               extra_tensors=extra_tensors, meta={"kind": KIND, **(meta or {})},
                               kind=KIND)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, device="cpu") -> "Captioner":
        """Load a captioner checkpoint (no pickles; every file checked against its manifest)."""
        ckpt = load_pretrained(directory, load_extra=False)
        kind = ckpt.meta.get("kind")
        if kind != KIND:
            raise CheckpointError(f"{directory} holds a {kind or 'unknown'} checkpoint, not a "
                                  f"captioner (make one with `soralite train-captioner`)")
        model = cls.from_config_dict(ckpt.config)
        load_state_dict_strict(model, ckpt.state_dict, directory)
        return model.to(device).eval()

    @classmethod
    def from_config_dict(cls, d: dict) -> "Captioner":
        try:
            config = CaptionerConfig(**d["captioner"])
            return cls(config, d["frames"], tuple(d["colours"]), tuple(d["shapes"]),
                       tuple(d["sizes"]), tuple(d["motions"]))
        except (KeyError, TypeError) as e:
            raise CheckpointError(f"not a captioner config: {json.dumps(d)[:200]} ({e})") from None


__all__ = ["Captioner", "CaptionerOutput", "KIND", "SPEED_UNIT", "MAX_OBJECTS"]
