"""Spacetime patches and 3D positions (soralite/patchify.py, notebook 02)."""
import itertools
import random

import pytest
import torch

from soralite.models.patchify import (
    PatchEmbed, Patchifier, apply_rope, axis_dims, grid_positions, patch_grid, patchify,
    rope_3d_freqs, sincos_pos_embed_3d, unpatchify,
)


def random_case(rng: random.Random):
    patch_size = tuple(rng.randint(1, 4) for _ in range(3))          # (pt, ph, pw)
    grid = tuple(rng.randint(1, 4) for _ in range(3))                # (T/pt, H/ph, W/pw)
    B, C = rng.randint(1, 3), rng.randint(1, 5)
    size = tuple(g * p for g, p in zip(grid, patch_size))            # (T, H, W)
    return B, C, size, patch_size, grid


def test_patchify_then_unpatchify_is_exact_over_many_random_sizes():
    rng = random.Random(0)
    gen = torch.Generator().manual_seed(0)
    for _ in range(300):
        B, C, size, patch_size, grid = random_case(rng)
        x = torch.randn(B, C, *size, generator=gen)                  # (B, C, T, H, W)
        tokens = patchify(x, patch_size)                             # (B, N, C*pt*ph*pw)
        N = grid[0] * grid[1] * grid[2]
        assert tokens.shape == (B, N, C * patch_size[0] * patch_size[1] * patch_size[2])
        assert patch_grid(size, patch_size) == grid
        assert torch.equal(unpatchify(tokens, patch_size, grid), x)


def test_token_order_is_txy_raster_and_matches_grid_positions():
    patch_size, grid = (2, 3, 2), (2, 3, 4)
    B, C = 2, 3
    x = torch.randn(B, C, 4, 9, 8, generator=torch.Generator().manual_seed(1))
    tokens = patchify(x, patch_size)                                 # (B, 24, 36)
    positions = grid_positions(grid)                                 # (24, 3)
    assert positions.dtype == torch.long and positions.shape == (24, 3)
    assert positions.tolist() == [list(p) for p in itertools.product(*(range(g) for g in grid))]
    pt, ph, pw = patch_size
    for n, (t, y, xx) in enumerate(positions.tolist()):
        patch = x[:, :, t * pt:(t + 1) * pt, y * ph:(y + 1) * ph, xx * pw:(xx + 1) * pw]
        assert torch.equal(tokens[:, n], patch.reshape(B, -1))        # features in (c, pt, ph, pw) order


def test_patchifier_and_patch_embed_agree_with_the_functions():
    x = torch.randn(2, 4, 4, 8, 12, generator=torch.Generator().manual_seed(2))
    P = Patchifier((2, 4, 4))
    tokens, grid = P(x)
    assert grid == (2, 2, 3)
    assert torch.equal(tokens, patchify(x, (2, 4, 4)))
    assert torch.equal(P.inverse(tokens, grid), x)

    torch.manual_seed(0)
    embed = PatchEmbed(4, 16, (2, 4, 4))
    out, grid2 = embed(x)                                            # (B, N, D)
    assert out.shape == (2, 12, 16) and grid2 == grid
    linear = tokens @ embed.proj.weight.reshape(16, -1).T + embed.proj.bias   # (B, N, D)
    torch.testing.assert_close(out, linear, rtol=1e-5, atol=1e-5)


def test_image_is_a_clip_with_one_frame():
    x = torch.randn(1, 3, 1, 16, 8)
    tokens = patchify(x, (1, 4, 4))
    assert tokens.shape == (1, 8, 48)
    assert torch.equal(unpatchify(tokens, (1, 4, 4), (1, 4, 2)), x)


def test_sizes_that_the_patch_does_not_divide_raise_a_clear_error():
    with pytest.raises(ValueError, match=r"T=5, H=32, W=32 .*patch_size \(2, 4, 4\): T=5 % 2 != 0; allowed"):
        patchify(torch.zeros(1, 3, 5, 32, 32), (2, 4, 4))
    with pytest.raises(ValueError, match=r"H=30 % 4 != 0; W=33 % 4 != 0"):
        patch_grid((4, 30, 33), (2, 4, 4))
    with pytest.raises(ValueError, match="T=5"):                    # Conv3d alone would drop a frame
        PatchEmbed(3, 8, (2, 4, 4))(torch.zeros(1, 3, 5, 32, 32))
    for bad in [(2, 4), (0, 2, 2), (2.5, 2, 2), 2]:
        with pytest.raises(ValueError, match="patch_size must be three positive ints"):
            patchify(torch.zeros(1, 3, 4, 8, 8), bad)
    with pytest.raises(ValueError, match=r"\(B, C, T, H, W\)"):
        patchify(torch.zeros(3, 4, 8, 8), (1, 2, 2))
    with pytest.raises(ValueError, match="need N = 2\\*2\\*2 = 8"):
        unpatchify(torch.zeros(1, 7, 12), (1, 2, 2), (2, 2, 2))


def test_sincos_embedding_is_distinct_per_position_bounded_and_split_by_axis():
    grid = (4, 8, 8)
    for dim in (32, 128):
        emb = sincos_pos_embed_3d(dim, grid)                         # (N, dim)
        assert emb.shape == (256, dim) and emb.dtype == torch.float32
        assert emb.abs().max() <= 1.0
        dists = torch.cdist(emb, emb) + torch.eye(256) * 1e9       # (N, N)
        assert dists.min() > 0.1                                   # every position has its own code
    dt, dy, dx = axis_dims(32)
    assert (dt, dy, dx) == (8, 12, 12)
    emb, pos = sincos_pos_embed_3d(32, grid), grid_positions(grid)
    for axis, (lo, hi) in enumerate([(0, dt), (dt, dt + dy), (dt + dy, 32)]):
        part = emb[:, lo:hi]                                        # the channels of one axis
        for value in range(grid[axis]):
            same = part[pos[:, axis] == value]                     # tokens sharing that coordinate
            assert torch.allclose(same, same[:1].expand_as(same))
    origin = torch.cat([torch.cat([torch.zeros(d // 2), torch.ones(d // 2)]) for d in (dt, dy, dx)])
    assert torch.allclose(emb[0], origin)                          # position 0: sin 0, cos 1 per axis


def test_dims_that_do_not_split_across_t_y_x_raise_a_clear_error():
    for dim in (8, 24, 100):
        with pytest.raises(ValueError, match=f"multiple of 16.*got dim={dim}"):
            sincos_pos_embed_3d(dim, (2, 2, 2))
        with pytest.raises(ValueError, match="multiple of 16"):
            rope_3d_freqs(dim, (2, 2, 2))
    cos, sin = rope_3d_freqs(16, (2, 2, 2))
    with pytest.raises(ValueError, match="apply_rope"):
        apply_rope(torch.zeros(1, 1, 8, 32), cos, sin)


def rope_scores(q: torch.Tensor, k: torch.Tensor, grid, head_dim: int) -> torch.Tensor:
    """<R(p_m) q, R(p_n) k> for every pair of positions (m, n), the same q and k everywhere."""
    N = grid[0] * grid[1] * grid[2]
    cos, sin = rope_3d_freqs(head_dim, grid)                        # (N, head_dim/2)
    rq = apply_rope(q.expand(1, 1, N, head_dim), cos, sin)          # (1, 1, N, head_dim)
    rk = apply_rope(k.expand(1, 1, N, head_dim), cos, sin)          # (1, 1, N, head_dim)
    return (rq @ rk.transpose(-1, -2))[0, 0]                        # (N, N)


def test_rope_dot_product_depends_only_on_the_difference_of_positions():
    grid, head_dim = (3, 4, 5), 32
    gen = torch.Generator().manual_seed(3)
    pos = grid_positions(grid)                                      # (N, 3)
    for _ in range(3):
        q, k = torch.randn(head_dim, generator=gen), torch.randn(head_dim, generator=gen)
        scores = rope_scores(q, k, grid, head_dim)                  # (N, N)
        by_offset: dict[tuple, list[float]] = {}
        for m, n in itertools.product(range(len(pos)), repeat=2):
            by_offset.setdefault(tuple((pos[n] - pos[m]).tolist()), []).append(scores[m, n].item())
        spreads = [max(v) - min(v) for v in by_offset.values()]
        assert max(spreads) < 1e-4                                  # same offset, same score
        assert max(v[0] for v in by_offset.values()) - min(v[0] for v in by_offset.values()) > 1.0
        assert torch.isclose(scores[0, 0], q @ k, atol=1e-5)       # zero offset: plain dot product


def test_rope_keeps_norms_and_is_the_identity_at_position_zero():
    grid, head_dim = (2, 3, 4), 16
    x = torch.randn(2, 3, 24, head_dim, generator=torch.Generator().manual_seed(4))   # (B, heads, N, hd)
    cos, sin = rope_3d_freqs(head_dim, grid)
    assert cos.shape == sin.shape == (24, head_dim // 2)
    y = apply_rope(x, cos, sin)
    assert y.shape == x.shape
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1))
    torch.testing.assert_close(y[:, :, 0], x[:, :, 0])
    assert not torch.allclose(y[:, :, 1:], x[:, :, 1:])
