"""`soralite bench`: speed benchmarks, printed as JSON (README, "Results").

Timings on shared machines are noisy, so every figure is the median of several repeats, and
figures that are compared are measured side by side in one run.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from soralite.config import WorldConfig, get_config, validate
from soralite.diffusion import diffusion_loss, make_scheduler, packed_diffusion_loss
from soralite.models import Denoiser, count_parameters, latent_shape, num_tokens
from soralite.runtime import autocast_context
from soralite.safety.provenance import Generation, default_credentials, sign, verify
from soralite.studies.scaling import count_flops
from soralite.train import LatentPool, SizeMix
from soralite.video import save_clip
from soralite.world import generate


def median_seconds(fn, repeats: int = 5) -> float:
    """The median wall time of `repeats` calls of `fn()`, after one call to warm up."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1 (got {repeats})")
    fn()                                                    # warm up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _median_rate(fn, items: int, repeats: int) -> float:
    return items / median_seconds(fn, repeats)


def bench_world(n: int = 256, repeats: int = 5, sizes=((16, 32, 32), (16, 64, 64))) -> dict:
    """Clips per second that the toy world renders (scene sampling + rendering), per clip size,
    for the default world (1-3 objects, every motion) and for the `tiny` world (one object)."""
    out = {}
    for T, H, W in sizes:
        for name, base in (("default world", WorldConfig()), ("tiny world", get_config("tiny").world)):
            w = dataclasses.replace(base, frames=T, height=H, width=W)
            rate = _median_rate(lambda: generate(w, n, seed=0), n, repeats)
            out[f"{name}, {T}x{H}x{W}"] = round(rate, 1)
    return {"clips_per_second": out, "n": n, "repeats": repeats}


def machine() -> dict:
    return {"cpu_count": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "python": platform.python_version(),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


# Peak dense bf16 tensor-core FLOP/s by device name (vendor data sheets), for the model FLOPs
# utilization; the first key found in the device's name wins, unknown devices report none.
PEAK_BF16_FLOPS = {"H100 PCIe": 756e12, "H100": 989e12, "H200": 989e12, "GH200": 989e12,
                   "B200": 2250e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12, "A10": 125e12}


def peak_bf16_flops(device_name: str | None) -> float | None:
    for key, flops in PEAK_BF16_FLOPS.items():
        if device_name and key in device_name:
            return flops
    return None


def bench_dit(repeats: int = 5, cfg=None, steps: int = 5) -> dict:
    """Denoiser training throughput at a preset: one step is forward, backward and AdamW on a
    batch of `train.batch_size` random latents; reports the median over `repeats` of `steps`
    steps as clips/s and tokens/s, and on a GPU the model FLOPs utilization (FLOPs of one step
    counted by `soralite.studies.scaling.count_flops`, against the device's peak dense bf16
    FLOP/s)."""
    cfg = cfg or get_config()
    device = torch.device(cfg.resolved_device())
    if device.type == "cpu":
        torch.set_flush_denormal(True)
    torch.manual_seed(cfg.seed)
    model = Denoiser(cfg).to(device).train()
    fwd = torch.compile(model) if cfg.train.compile else model
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr)
    sched, autocast = make_scheduler(cfg), autocast_context(cfg, device)
    B = cfg.train.batch_size
    x0 = torch.randn(B, *latent_shape(cfg), device=device)                 # (B, C, t, h, w)
    ids, mask = model.encode_prompts(["a red circle moving left"] * B, device)
    g = torch.Generator(device=device).manual_seed(0)

    def step():
        loss, _, _ = diffusion_loss(fwd, sched, x0, ids, mask, g, autocast)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def run():
        for _ in range(steps):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    clips_per_s = _median_rate(run, B * steps, repeats)
    tokens = num_tokens(cfg)
    out = {"preset": cfg.name, "device": str(device), "batch_size": B, "tokens_per_clip": tokens,
           "dit_parameters": count_parameters(model.dit), "precision": cfg.train.precision,
           "compile": cfg.train.compile, "seconds_per_step": round(B / clips_per_s, 4),
           "clips_per_second": round(clips_per_s, 1),
           "tokens_per_second": round(clips_per_s * tokens, 1)}
    if device.type == "cuda":
        flops = count_flops(step)                            # one step, as the scaling study counts
        name = torch.cuda.get_device_name(device)
        peak = peak_bf16_flops(name)
        achieved = flops * clips_per_s / B
        out.update({"flops_per_step": flops, "achieved_tflops": round(achieved / 1e12, 2),
                    "peak_bf16_tflops": peak and peak / 1e12,
                    "mfu": round(achieved / peak, 4) if peak else None})
    return out


DEFAULT_MIX = "16x32x32:3,16x32x48:1,16x48x32:1,8x32x32:1,32x32x32:3,1x32x32:1"


def bench_sizes(repeats: int = 5, cfg=None, steps: int = 3) -> dict:
    """Buckets against packing on the same model and the same mix of sizes (`train.sizes`, by
    default `DEFAULT_MIX`): training steps of random latents of each size, alternating the two
    ways step by step; tokens per second (the tokens of real clips only) and the share of the
    compute spent on padding (packed sequences are padded to the longest of the batch)."""
    cfg = copy.deepcopy(cfg or get_config())
    if not cfg.train.sizes:
        cfg.train.sizes = DEFAULT_MIX
        validate(cfg)
    device = torch.device(cfg.resolved_device())
    torch.manual_seed(cfg.seed)
    model = Denoiser(cfg).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr)
    autocast = autocast_context(cfg, device)
    mix = SizeMix.of(cfg)
    scheds = {s: make_scheduler(cfg, size=s) for s in mix.sizes}
    latents = {s: torch.randn(1, *latent_shape(cfg, s), device=device) for s in mix.sizes}
    ids, mask = model.encode_prompts(["a red circle moving left"], device)
    for s in mix.sizes:                                                    # one clip a size
        mix.pools[s] = LatentPool(latents[s], ["a red circle moving left"], ids, mask)
    g = torch.Generator().manual_seed(0)
    times = {"bucket": [], "pack": []}
    tokens = {"bucket": 0, "pack": 0}
    padding = []

    def step(kind):
        if kind == "bucket":
            size, idx = mix.bucket(g)
            x0 = latents[size].expand(len(idx), -1, -1, -1, -1).contiguous()
            loss, _, _ = diffusion_loss(model, scheds[size], x0, ids.expand(len(idx), -1),
                                        mask.expand(len(idx), -1), g, autocast)
            n = len(idx) * mix.tokens[mix.sizes.index(size)]
        else:
            picked, plan = mix.pack(g)
            x0s = [latents[s][0] for s, _ in picked]
            loss, _, _ = packed_diffusion_loss(model, [scheds[s] for s, _ in picked], x0s,
                                               ids.expand(len(picked), -1), mask.expand(len(picked), -1),
                                               plan, g, autocast)
            n = sum(mix.tokens[mix.sizes.index(s)] for s, _ in picked)
            padding.append(plan.padding_share)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return n

    for kind in ("bucket", "pack"):                                        # warm up
        step(kind)
    for _ in range(repeats * steps):
        for kind in ("bucket", "pack"):
            t = time.perf_counter()
            tokens[kind] += step(kind)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[kind].append(time.perf_counter() - t)
    out = {"sizes": cfg.train.sizes, "token_budget": mix.budget, "steps": repeats * steps}
    for kind in times:
        total = sum(times[kind])
        out[kind] = {"tokens_per_second": round(tokens[kind] / total, 1),
                     "seconds_per_step_median": round(statistics.median(times[kind]), 4)}
    out["pack"]["padding_share"] = round(statistics.mean(padding), 4)
    out["bucket"]["padding_share"] = 0.0
    out["pack_over_bucket_tokens_per_second"] = round(
        out["pack"]["tokens_per_second"] / out["bucket"]["tokens_per_second"], 3)
    return out


def bench_provenance(repeats: int = 5, cfg=None) -> dict:
    """What C2PA provenance costs per clip (notebook 13): for a world clip of the config's size
    (`.png`: its first frame), the median over `repeats` of writing the file (`save_clip`),
    signing it (`soralite.safety.provenance.sign`: embedded in .mp4/.png, a sidecar for
    .gif/.npy) and verifying it, in milliseconds, with the file's and the manifest's size."""
    cfg = cfg or get_config()
    w = cfg.world
    clip = generate(w, 1, seed=0).clips[0]                                # (T, H, W, 3)
    creds = default_credentials()                                         # made once, not timed
    gen = Generation("text", [generate(w, 1, seed=0).captions[0]], 0, cfg.train.sample_steps,
                     cfg.train.guidance_scale, {"vae_sha256": "0" * 64, "denoiser_sha256": "0" * 64,
                                                "step": 0}, cfg.name)
    out = {"clip": f"{w.frames}x{w.height}x{w.width}", "repeats": repeats}
    with tempfile.TemporaryDirectory() as tmp:
        for ext in (".mp4", ".png", ".gif", ".npy"):
            frames = clip[:1] if ext == ".png" else clip
            path = Path(tmp) / f"clip{ext}"
            times: dict[str, list[float]] = {"save": [], "sign": [], "verify": []}
            for k in range(repeats + 1):                                  # the first warms up
                t0 = time.perf_counter()
                save_clip(path, frames, fps=w.fps)
                t1 = time.perf_counter()
                info = sign(path, gen, creds)
                t2 = time.perf_counter()
                ok = verify(path)["intact"]
                t3 = time.perf_counter()
                if k:
                    times["save"].append(t1 - t0)
                    times["sign"].append(t2 - t1)
                    times["verify"].append(t3 - t2)
            ms = {f"{k}_ms": round(1000 * statistics.median(v), 2) for k, v in times.items()}
            out[ext.lstrip(".")] = {**ms, "sign_over_save": round(ms["sign_ms"] / ms["save_ms"], 2),
                                    "file_bytes": path.stat().st_size, "manifest_bytes": info["bytes"],
                                    "manifest": "embedded" if info["manifest"] == "embedded" else "sidecar",
                                    "intact": ok}
    return out


def bench_peer(repeats: int = 5, cfg=None, steps: int = 3) -> dict:
    """soralite's DiT against a published video DiT of the same kind, diffusers'
    `LatteTransformer3DModel` (Ma et al. 2024, "Latte"; spatial and temporal transformer blocks),
    at the same width, depth, heads, spatial patch, tokens and batch: one training step each
    (forward, backward, AdamW) on the same random latents, alternating model by model, median of
    `repeats` x `steps` steps. `ratio` is soralite's time over the peer's (below 1: soralite is
    faster); the FLOPs of one step of each (counted) tell work from speed, as time per TFLOP.
    diffusers is the optional `bench` extra (`pip install -e ".[bench]"`), never needed otherwise."""
    try:
        from diffusers import LatteTransformer3DModel   # lazily: an optional extra, for this bench only
    except ImportError as e:
        raise ImportError("soralite bench --peer needs diffusers, the optional bench extra: "
                          "pip install -e \".[bench]\"") from e
    cfg = cfg or get_config()
    device = torch.device(cfg.resolved_device())
    if device.type == "cpu":
        torch.set_flush_denormal(True)
    d = cfg.dit
    if d.patch_size[0] != 1 or d.patch_size[1] != d.patch_size[2]:
        raise ValueError(f"the peer patches space alone with square patches; dit.patch_size "
                         f"{tuple(d.patch_size)} has no counterpart (use [1, p, p])")
    B = cfg.train.batch_size
    C, T, h, w = latent_shape(cfg)
    torch.manual_seed(cfg.seed)
    ours = Denoiser(cfg).to(device).train()
    peer = LatteTransformer3DModel(
        num_attention_heads=d.num_heads, attention_head_dim=d.hidden_size // d.num_heads,
        in_channels=C, out_channels=C, num_layers=d.depth, cross_attention_dim=d.hidden_size,
        sample_size=h, patch_size=d.patch_size[1], norm_type="ada_norm_single",
        caption_channels=d.text_dim, video_length=T, activation_fn="gelu-approximate",
        num_embeds_ada_norm=1000).to(device).train()
    x0 = torch.randn(B, C, T, h, w, device=device)                         # (B, C, t, h, w)
    target = torch.randn_like(x0)
    ids, mask = ours.encode_prompts(["a red circle moving left"] * B, device)
    text = torch.randn(B, ids.shape[1], d.text_dim, device=device)       # the peer's caption features
    t = torch.rand(B, device=device)
    opts = {"soralite": torch.optim.AdamW(ours.parameters(), lr=1e-4),
            "peer": torch.optim.AdamW(peer.parameters(), lr=1e-4)}
    autocast = autocast_context(cfg, device)

    def step(name):
        with autocast:
            if name == "soralite":
                pred = ours(x0, t, ids, mask)                                 # (B, C, t, h, w)
            else:
                pred = peer(x0, timestep=(t * 999).long(), encoder_hidden_states=text,
                            return_dict=False)[0]                        # every text token seen
        loss = (pred.float() - target).pow(2).mean()
        opts[name].zero_grad(set_to_none=True)
        loss.backward()
        opts[name].step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    times = {"soralite": [], "peer": []}
    for name in times:                                                     # warm up
        step(name)
    for _ in range(repeats * steps):
        for name in times:
            start = time.perf_counter()
            step(name)
            times[name].append(time.perf_counter() - start)
    flops = {name: count_flops(lambda name=name: step(name)) for name in times}
    med = {name: statistics.median(v) for name, v in times.items()}
    out = {"peer": "diffusers.LatteTransformer3DModel", "device": str(device),
           "width": d.hidden_size, "depth": d.depth, "heads": d.num_heads,
           "patch": list(d.patch_size), "tokens_per_clip": num_tokens(cfg), "batch_size": B,
           "soralite_attention": d.attention,
           "parameters": {"soralite_dit": count_parameters(ours.dit),
                          "soralite_text_encoder": count_parameters(ours.text_encoder),
                          "peer": count_parameters(peer)},
           "seconds_per_step": {k: round(v, 4) for k, v in med.items()},
           "flops_per_step": flops,
           "seconds_per_tflop": {k: round(med[k] / (flops[k] / 1e12), 3) for k in med},
           "ratio": round(med["soralite"] / med["peer"], 3)}
    out["ratio_per_flop"] = round(out["seconds_per_tflop"]["soralite"] / out["seconds_per_tflop"]["peer"], 3)
    return out


BENCHES = {"world": bench_world, "dit": bench_dit, "sizes": bench_sizes, "provenance": bench_provenance}
TAKES_CONFIG = ("dit", "sizes", "provenance", "peer")   # benchmarks that measure a config's model or clips
OPTIONAL = {"peer": bench_peer}         # benchmarks with an optional dependency: asked for by name


def run_benches(names, repeats: int, cfg) -> dict:
    """The benchmarks `names` (default all), each a median of `repeats`, with the machine."""
    report = {"machine": machine()}
    for name in names or BENCHES:
        kwargs = {"cfg": cfg} if name in TAKES_CONFIG else {}
        report[name] = {**BENCHES, **OPTIONAL}[name](repeats=repeats, **kwargs)
    return report


__all__ = ["median_seconds", "bench_world", "bench_dit", "bench_sizes", "DEFAULT_MIX", "machine", "peak_bf16_flops", "run_benches", "BENCHES", "OPTIONAL", "bench_provenance", "bench_peer"]
