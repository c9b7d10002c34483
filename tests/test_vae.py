"""The video VAE: shapes, images, causality, chunking, the posterior (soralite/vae.py)."""
import pytest
import torch

from soralite.config import VAEConfig
from soralite.models import DiagonalGaussian, VideoVAE

torch.set_flush_denormal(True)                  # denormals make CPU conv backward crawl


SMALL = dict(base_channels=8, num_res_blocks=1, patch_channels=16, num_mlp_blocks=1)


def make_vae(seed: int = 0, **kw) -> VideoVAE:
    """A VAE with random weights everywhere (a fresh one has its residual paths at zero)."""
    torch.manual_seed(seed)
    vae = VideoVAE(VAEConfig(**{**SMALL, **kw})).eval()
    for layer in (vae.encoder.conv_out.conv, vae.decoder.unpatchify):
        torch.nn.init.normal_(layer.weight, std=0.05)
    return vae


def clip(b=2, t=8, h=16, w=16, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, t, h, w, generator=g) * 2 - 1          # (B, 3, T, H, W)


@pytest.mark.parametrize("tc,sc,lc", [(2, 4, 4), (4, 4, 8), (2, 8, 16), (1, 2, 4)])
def test_video_round_trip_shapes(tc, sc, lc):
    vae = make_vae(temporal_compression=tc, spatial_compression=sc, latent_channels=lc)
    x = clip(t=8, h=16, w=32)
    with torch.no_grad():
        post = vae.encode(x)
        assert post.mean.shape == (2, lc, 8 // tc, 16 // sc, 32 // sc)
        assert vae.latent_shape(8, 16, 32) == post.mean.shape[1:]
        y = vae.decode(post.sample())
    assert y.shape == x.shape


def test_image_is_a_one_frame_clip_with_one_latent_frame():
    vae = make_vae()
    image = clip(t=1)
    with torch.no_grad():
        post = vae.encode(image)
        assert post.mean.shape == (2, 4, 1, 4, 4)
        assert vae.decode(post.mode(), num_frames=1).shape == image.shape
        # an image is the still clip of `c` copies of itself: the same latent, exactly
        still = vae.encode(image.repeat(1, 1, 2, 1, 1))
    assert torch.equal(post.mean, still.mean)


@pytest.mark.parametrize("frames", [3, 5, 7])
def test_frames_that_do_not_fit_the_compression_raise_with_allowed_values(frames):
    vae = make_vae()
    with pytest.raises(ValueError, match=r"T must be 1 \(an image\) or a multiple of 2"):
        vae.encode(clip(t=frames))


def test_bad_sizes_and_configs_raise():
    vae = make_vae(spatial_compression=8)
    with pytest.raises(ValueError, match="multiples of spatial_compression=8"):
        vae.encode(clip(h=12))
    with pytest.raises(ValueError, match="temporal_compression must be one of"):
        VideoVAE(VAEConfig(temporal_compression=3))
    with pytest.raises(ValueError, match="spatial_compression must be one of"):
        VideoVAE(VAEConfig(spatial_compression=6))
    with pytest.raises(ValueError, match="num_frames=3"):
        vae.decode(torch.zeros(1, 4, 2, 2, 2), num_frames=3)


@pytest.mark.parametrize("tc", [2, 4])
@pytest.mark.parametrize("k", [5, 9])
def test_encoder_is_causal_earlier_latents_unchanged_exactly(tc, k):
    vae = make_vae(temporal_compression=tc)
    x = clip(t=12 if tc == 2 else 16)
    x2 = x.clone()
    x2[:, :, k] = -x2[:, :, k]                                     # change frame k only
    with torch.no_grad():
        z, z2 = vae.encode(x).mean, vae.encode(x2).mean             # (B, C, t, h, w)
    g = k // tc                                                     # the latent frame that holds k
    assert torch.equal(z[:, :, :g], z2[:, :, :g])
    assert not torch.allclose(z[:, :, g], z2[:, :, g])              # ... and it does change


def test_decoder_is_causal():
    vae = make_vae()
    z = torch.randn(1, 4, 6, 4, 4)
    z2 = z.clone()
    z2[:, :, 3] += 1.0
    with torch.no_grad():
        y, y2 = vae.decode(z), vae.decode(z2)                       # (1, 3, 12, 16, 16)
    assert torch.equal(y[:, :, :6], y2[:, :, :6])
    assert not torch.allclose(y[:, :, 6:8], y2[:, :, 6:8])


@pytest.mark.parametrize("tc", [2, 4])
def test_chunked_encode_and_decode_equal_whole(tc):
    vae = make_vae(temporal_compression=tc, num_res_blocks=2)
    x = clip(b=1, t=8 * tc)
    with torch.no_grad():
        whole = vae.encode(x, chunk_frames=0).mean
        chunked = vae.encode(x, chunk_frames=2 * tc).mean           # many chunks, many borders
        torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=1e-5)
        y_whole = vae.decode(whole, chunk_frames=0)
        y_chunked = vae.decode(whole, chunk_frames=2 * tc)
    torch.testing.assert_close(y_chunked, y_whole, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="chunk_frames"):
        vae.encode(x, chunk_frames=tc + 1)


def world_clips(n=16, seed=0):
    from soralite.config import get_config
    from soralite.world import generate

    return generate(get_config("smoke").world, n, seed=seed).videos  # (n, 3, 4, 16, 16)


def test_a_fresh_vae_is_its_linear_code_and_init_from_data_makes_it_pca():
    torch.manual_seed(0)
    vae = VideoVAE(VAEConfig(**{**SMALL, "latent_channels": 8})).eval()
    x = world_clips()
    patches = x.reshape(16, 3, 2, 2, 4, 4, 4, 4).permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(-1, 96)
    with torch.no_grad():
        z = vae.encode(x).mode()                                    # (16, 8, 2, 4, 4)
        flat = z.permute(0, 2, 3, 4, 1).reshape(-1, 8)              # one row per patch
        w = vae.encoder.code_weight.reshape(8, 96)
        torch.testing.assert_close(flat, patches @ w.T)             # residual path starts at zero
        info = vae.init_from_data(x)
        recon = vae.decode(vae.encode(x).mode())
        z = vae.encode(x).mode()
    # the same reconstruction as projecting the centred patches on their top 8 principal axes
    mean = x.mean(dim=(0, 2, 3, 4)).repeat_interleave(32)
    _, _, vh = torch.linalg.svd(patches - mean, full_matrices=False)
    pca = (patches - mean) @ vh[:8].T @ vh[:8] + mean
    got = recon.reshape(16, 3, 2, 2, 4, 4, 4, 4).permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(-1, 96)
    torch.testing.assert_close(got, pca, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(z.permute(1, 0, 2, 3, 4).reshape(8, -1).var(1), torch.ones(8), atol=0.05, rtol=0)
    assert 0.5 < info["explained_variance"] <= 1.0


def test_posterior_sample_mode_and_kl():
    params = torch.cat([torch.zeros(2, 4, 1, 2, 2), torch.zeros(2, 4, 1, 2, 2)], dim=1)
    post = DiagonalGaussian(params)                                # N(0, I)
    assert torch.equal(post.mode(), post.mean)
    torch.testing.assert_close(post.kl(), torch.zeros(2))
    a = post.sample(torch.Generator().manual_seed(1))
    b = post.sample(torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.std() > 0.5
    shifted = DiagonalGaussian(torch.cat([torch.ones(1, 4, 1, 2, 2), torch.zeros(1, 4, 1, 2, 2)], 1))
    torch.testing.assert_close(shifted.kl(), torch.full((1,), 0.5))  # KL = mean^2 / 2


def test_forward_reconstructs_and_a_few_steps_learn():
    """A few optimizer steps on one batch must lower the reconstruction error."""
    torch.manual_seed(0)
    vae = make_vae().train()
    x = -torch.ones(2, 3, 4, 16, 16)                                # black clips ...
    x[0, 0, :, 4:10, 3:9] = 0.8                                     # ... with a red square
    x[1, 1, :, 8:14, 6:12] = 0.6                                    # ... and a green one
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        recon, post = vae(x, generator=torch.Generator().manual_seed(0))
        loss = torch.nn.functional.mse_loss(recon, x) + 1e-6 * post.kl().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
