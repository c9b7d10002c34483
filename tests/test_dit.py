"""The DiT: adaLN-Zero starts at zero, conditioning reaches the output, factorized attention is
factorized, the explicit-softmax path agrees with SDPA, and any size the patch divides works."""
import dataclasses

import pytest
import torch

from soralite.config import DiTConfig, get_config
from soralite.models import Denoiser
from soralite.models.dit import (DIT_PRESETS, Attention, DiT, DiTBlock, capture_attention,
                                 count_parameters, dit_config, timestep_embedding)

C = 4                                      # latent channels
KINDS = [(a, p) for a in ("full", "factorized") for p in ("sincos", "rope")]
PROMPTS = ["a red circle moving left", "a large blue square falling and a green triangle bouncing"]


def small_cfg(attention="full", pos_embed="sincos", **kw) -> DiTConfig:
    return DiTConfig(hidden_size=32, depth=2, num_heads=2, text_dim=16, attention=attention,
                     pos_embed=pos_embed, **kw)


def inputs(B=2, T=4, H=8, W=8, L=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, C, T, H, W, generator=g)                 # (B, C, T, H, W)
    t = torch.rand(B, generator=g)                              # (B,)
    text = torch.randn(B, L, 16, generator=g)                   # (B, L, text_dim)
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[0, 3:] = False                                         # the first prompt is padded
    return x, t, text, mask


def perturb(module, std=0.1, seed=1):
    """Move every parameter off its init, so that the zero-initialized paths carry signal."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g) * std)
    return module


@pytest.mark.parametrize("attention,pos_embed", KINDS)
def test_fresh_dit_outputs_exactly_zero_and_blocks_are_identity(attention, pos_embed):
    torch.manual_seed(0)
    model = DiT(small_cfg(attention, pos_embed), C)
    x, t, text, mask = inputs()
    out = model(x, t, text, mask)
    assert out.shape == x.shape
    assert torch.equal(out, torch.zeros_like(x))
    block = model.blocks[0]
    tokens, c, ctx = torch.randn(2, 64, 32), torch.randn(2, 32), torch.randn(2, 6, 32)
    rope = model.pos_table((4, 4, 4), "cpu") if pos_embed == "rope" else None
    assert torch.equal(block(tokens, c, ctx, mask, (4, 4, 4), rope), tokens)


def test_output_depends_on_text_and_t_once_the_final_layer_moves():
    torch.manual_seed(0)
    model = DiT(small_cfg(), C)
    perturb(model.final_layer)                                   # blocks stay the identity
    x, t, text, mask = inputs()
    out = model(x, t, text, mask)
    assert out.abs().mean() > 1e-3
    other_text = model(x, t, torch.randn_like(text), mask)
    other_t = model(x, t + 0.3, text, mask)
    assert (out - other_text).abs().mean() > 1e-3
    assert (out - other_t).abs().mean() > 1e-3
    # the padding is not part of the prompt: changing padded tokens changes nothing
    text2 = text.clone()
    text2[0, 3:] = 100.0
    torch.testing.assert_close(model(x, t, text2, mask), out)


def test_size_embed_starts_as_nothing_then_tells_the_model_the_clip_size():
    torch.manual_seed(0)
    plain = DiT(small_cfg(), C)
    torch.manual_seed(0)
    sized = DiT(small_cfg(size_embed=True), C)
    shared = plain.state_dict()
    extra = [k for k in sized.state_dict() if k not in shared]
    assert extra and all(k.startswith("size_embedder.") for k in extra)
    for k, v in shared.items():                                  # the same init for the rest
        assert torch.equal(sized.state_dict()[k], v), k
    perturb(plain.final_layer)
    sized.final_layer.load_state_dict(plain.final_layer.state_dict())
    x, t, text, mask = inputs()
    torch.testing.assert_close(sized(x, t, text, mask), plain(x, t, text, mask))   # a fresh one adds 0
    perturb(sized.size_embedder)
    assert (sized(x, t, text, mask) - plain(x, t, text, mask)).abs().mean() > 1e-3
    v16, v32, wide = (sized.size_vector(g, "cpu") for g in ((4, 8, 8), (8, 8, 8), (4, 8, 12)))
    assert v16.shape == (32,)
    assert (v16 - v32).abs().max() > 1e-3 and (v16 - wide).abs().max() > 1e-3
    assert plain.size_vector((4, 8, 8), "cpu") is None


@pytest.mark.parametrize("attention,pos_embed", KINDS)
def test_cross_attention_reads_the_text(attention, pos_embed):
    torch.manual_seed(0)
    model = perturb(DiT(small_cfg(attention, pos_embed), C))
    model.text_pool.weight.data.zero_()                         # only cross-attention sees the text now
    model.text_pool.bias.data.zero_()
    x, t, text, mask = inputs()
    out = model(x, t, text, mask)
    assert out.shape == x.shape
    text2 = text.clone()
    text2[1, 2] += 1.0
    changed = (model(x, t, text2, mask) - out).abs().flatten(1).mean(1)   # (B,)
    assert changed[0] == 0 and changed[1] > 1e-4                # only the sample whose prompt changed


def _dependence(attn, axes, grid, query):
    """Which input tokens the output at token `query` depends on: |d out[query] / d x| summed, (N,)."""
    N = grid[0] * grid[1] * grid[2]
    x = torch.randn(1, N, 32, requires_grad=True)
    attn(x, axes=axes, grid=grid)[0, query].sum().backward()
    return x.grad[0].abs().sum(-1)                              # (N,)


def test_factorized_attention_is_factorized():
    torch.manual_seed(0)
    attn = perturb(Attention(32, 2))
    grid = (3, 2, 4)                                            # T'=3 frames of 2 x 4 tokens
    pos = torch.arange(24).reshape(3, 8)                        # token index at (frame, place)
    query_frame, query_place = 1, 5
    query = pos[query_frame, query_place].item()
    same_frame = torch.zeros(3, 8, dtype=torch.bool)
    same_frame[query_frame] = True
    same_place = torch.zeros(3, 8, dtype=torch.bool)
    same_place[:, query_place] = True
    spatial = _dependence(attn, "spatial", grid, query).reshape(3, 8)
    temporal = _dependence(attn, "temporal", grid, query).reshape(3, 8)
    full = _dependence(attn, "full", grid, query).reshape(3, 8)
    assert (spatial[~same_frame] == 0).all() and (spatial[same_frame] > 0).all()
    assert (temporal[~same_place] == 0).all() and (temporal[same_place] > 0).all()
    assert (full > 0).all()                                     # the control: full attention sees all


def test_factorized_block_reaches_everything_in_two_steps():
    """Spatial then temporal: a token sees another frame's other places only through the two hops."""
    torch.manual_seed(0)
    block = perturb(DiTBlock(32, 2, 4.0, "factorized"))
    x = torch.randn(1, 24, 32, requires_grad=True)
    out = block(x, torch.randn(1, 32), torch.randn(1, 3, 32), torch.ones(1, 3, dtype=torch.bool), (3, 2, 4))
    out[0, 13].sum().backward()
    assert (x.grad[0].abs().sum(-1) > 0).all()               # (one hop alone does not: test above)


@pytest.mark.parametrize("attention,pos_embed", KINDS)
def test_slow_path_matches_sdpa_and_rows_sum_to_one(attention, pos_embed):
    torch.manual_seed(0)
    model = perturb(DiT(small_cfg(attention, pos_embed), C))
    x, t, text, mask = inputs(T=3, H=8, W=6)
    fast = model(x, t, text, mask)
    with capture_attention(model, layers=[0, 1]) as maps:
        slow = model(x, t, text, mask)
    torch.testing.assert_close(slow, fast, atol=1e-5, rtol=1e-4)
    assert fast.abs().mean() > 1e-3
    N, L = 3 * 4 * 3, 6
    assert maps.grid == (3, 4, 3) and maps.positions.shape == (N, 3)
    names = {"self", "cross"} if attention == "full" else {"spatial", "temporal", "cross"}
    for layer in (0, 1):
        assert set(maps[layer]) == names
        for name, w in maps[layer].items():
            assert w.shape == ((2, 2, N, L) if name == "cross" else (2, 2, N, N))
            torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:-1]))
        assert (maps[layer]["cross"][0, :, :, 3:] == 0).all()    # padded text is never looked at
    if attention == "factorized":
        same_frame = maps.positions[:, None, 0] == maps.positions[None, :, 0]   # (N, N)
        same_place = (maps.positions[:, None, 1:] == maps.positions[None, :, 1:]).all(-1)
        assert (maps[0]["spatial"][..., ~same_frame] == 0).all()
        assert (maps[0]["temporal"][..., ~same_place] == 0).all()
    assert all(a.record is None for b in model.blocks for a in (*b.attns, b.cross_attn))
    with pytest.raises(ValueError, match="out of range"):
        with capture_attention(model, layers=[5]):
            pass


def test_rope_and_sincos_place_tokens_differently():
    torch.manual_seed(0)
    sincos = perturb(DiT(small_cfg(pos_embed="sincos"), C))
    rope = DiT(small_cfg(pos_embed="rope"), C)
    rope.load_state_dict(sincos.state_dict())                   # same weights, other positions
    x, t, text, mask = inputs()
    a, b = sincos(x, t, text, mask), rope(x, t, text, mask)
    assert a.shape == b.shape == x.shape and (a - b).abs().mean() > 1e-3


@pytest.mark.parametrize("attention,pos_embed", KINDS)
def test_any_size_the_patch_divides(attention, pos_embed):
    torch.manual_seed(0)
    model = perturb(DiT(small_cfg(attention, pos_embed, patch_size=(2, 2, 2)), C))
    for T, H, W in [(2, 4, 4), (4, 8, 12), (6, 6, 10)]:
        x, t, text, mask = inputs(T=T, H=H, W=W)
        out = model(x, t, text, mask)
        assert out.shape == (2, C, T, H, W) and torch.isfinite(out).all()
    assert len(model._pos_cache) == 4                          # one table per grid, reused
    model(*inputs(T=2, H=4, W=4))
    assert len(model._pos_cache) == 4


def test_bad_inputs_raise_clear_errors():
    model = DiT(small_cfg(), C)
    x, t, text, mask = inputs(H=7)
    with pytest.raises(ValueError, match="patch_size"):
        model(x, t, text, mask)
    with pytest.raises(ValueError, match="C=4"):
        model(torch.randn(2, 3, 4, 8, 8), t, text, mask)
    with pytest.raises(ValueError, match="text_dim=16"):
        model(torch.randn(2, C, 4, 8, 8), t, torch.randn(2, 6, 8), mask)
    with pytest.raises(ValueError, match="t must be"):
        model(torch.randn(2, C, 4, 8, 8), torch.rand(3), text, mask)
    with pytest.raises(ValueError, match="allowed"):
        DiT(small_cfg(attention="sparse"), C)
    with pytest.raises(ValueError, match="multiple of 16"):
        DiT(dataclasses.replace(small_cfg(), hidden_size=24, num_heads=2), C)


def test_timestep_embedding_scale():
    t = torch.tensor([0.0, 0.25, 1.0])
    torch.testing.assert_close(timestep_embedding(t, 64, scale=1000.0), timestep_embedding(t * 1000, 64))
    emb = timestep_embedding(t, 64, scale=1000.0)
    assert emb.shape == (3, 64) and (emb[1] - emb[2]).abs().max() > 0.5


def test_presets_and_parameter_counts():
    counts = [count_parameters(DiT(dit_config(name), C)) for name in DIT_PRESETS]
    assert counts == sorted(counts) and counts[0] > 0
    cfg = dit_config("DiT-S/2", attention="factorized")
    assert (cfg.hidden_size, cfg.patch_size, cfg.attention) == (128, (1, 2, 2), "factorized")
    with pytest.raises(ValueError, match="DiT-S/2"):
        dit_config("DiT-XXL/2")


def test_denoiser_from_prompts_trains():
    torch.manual_seed(0)
    cfg = get_config("smoke")
    model = Denoiser(cfg)
    ids, mask = model.encode_prompts(PROMPTS + [""])
    assert ids.shape == (3, cfg.dit.text_max_length)
    T, H, W = 4, 8, 8
    x = torch.randn(3, cfg.vae.latent_channels, T, H, W)
    target = torch.randn_like(x)
    assert torch.equal(model(x, torch.rand(3), ids, mask), torch.zeros_like(x))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(5):
        loss = (model(x, torch.full((3,), 0.5), ids, mask) - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.text_encoder.parameters())
