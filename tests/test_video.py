"""Clips in and out (soralite/video.py, notebook 01): files, grids, inline display, folders."""
import base64
import io
import json
import re

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from soralite.video import (ClipFolder, gif_bytes, grid, load_clip, save_clip, show, to_tensor,
                            to_uint8)

COLOURS = np.array([(0, 0, 0), (230, 50, 50), (60, 110, 240), (240, 220, 60)], np.uint8)


def toy_clip(T=16, H=32, W=32, seed=0):
    """A palette-friendly clip: a black background and two flat squares that move."""
    rng = np.random.default_rng(seed)
    clip = np.zeros((T, H, W, 3), np.uint8)
    s = max(2, min(H, W) // 3)
    y0, x0 = rng.integers(0, H - s + 1), rng.integers(0, W - s + 1)
    for t in range(T):
        x = (x0 + t) % (W - s + 1)
        clip[t, y0:y0 + s, x:x + s] = COLOURS[1 + seed % 3]
        clip[t, H - s:, :s] = COLOURS[1 + (seed + 1) % 3]
    return clip


def gif_from_html(page: str) -> np.ndarray:
    match = re.search(r"data:image/gif;base64,([A-Za-z0-9+/=]+)", page)
    assert match, "no base64 GIF in the HTML"
    return iio.imread(io.BytesIO(base64.b64decode(match.group(1))), index=None, mode="RGB",
                      extension=".gif")


# ---------------------------------------------------------------------------------------------
# Files


@pytest.mark.parametrize("shape", [(16, 32, 32), (5, 17, 23), (1, 24, 40)])
@pytest.mark.parametrize("ext", [".npy", ".gif"])
def test_npy_and_gif_round_trip_exactly(tmp_path, ext, shape):
    clip = toy_clip(*shape)
    back = load_clip(save_clip(tmp_path / f"clip{ext}", clip))
    assert back.dtype == np.uint8 and back.shape == clip.shape
    np.testing.assert_array_equal(back, clip)


@pytest.mark.parametrize("shape", [(16, 32, 32), (5, 17, 23), (1, 24, 40)])
def test_mp4_round_trip_within_tolerance_and_keeps_odd_sizes(tmp_path, shape):
    clip = toy_clip(*shape)
    back = load_clip(save_clip(tmp_path / "clip.mp4", clip))
    assert back.dtype == np.uint8 and back.shape == clip.shape      # no resize to 16s
    err = np.abs(back.astype(int) - clip)
    assert err.mean() < 2.0 and err.max() <= 32, (err.mean(), err.max())


def test_npy_keeps_full_colour_clips_exactly(tmp_path):
    clip = np.random.default_rng(0).integers(0, 256, (3, 9, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(load_clip(save_clip(tmp_path / "c.npy", clip)), clip)


def test_gif_keeps_repeated_frames_and_one_frame_gifs_load_as_t1(tmp_path):
    still = np.repeat(toy_clip(1, 16, 16), 6, axis=0)               # 6 identical frames
    assert load_clip(save_clip(tmp_path / "still.gif", still)).shape == (6, 16, 16, 3)
    image = toy_clip(1, 12, 20)[0]                                    # (H, W, 3)
    for ext in (".gif", ".npy", ".mp4"):
        assert load_clip(save_clip(tmp_path / f"image{ext}", image)).shape == (1, 12, 20, 3)


def test_gif_of_many_colours_keeps_shape_and_is_close(tmp_path):
    y, x = np.mgrid[0:24, 0:24]
    clip = np.stack([np.stack([x * 10, y * 10, (x + y + 3 * t) * 5], -1) for t in range(4)])
    clip = clip.clip(0, 255).astype(np.uint8)                         # > 256 colours: quantised
    back = load_clip(save_clip(tmp_path / "many.gif", clip))
    assert back.shape == clip.shape
    assert np.abs(back.astype(int) - clip).mean() < 8


def test_gif_bytes_plays_at_the_given_fps():
    data = gif_bytes(toy_clip(8, 16, 16), fps=8)
    assert data[:6] == b"GIF89a"
    meta = iio.immeta(io.BytesIO(data), index=0, extension=".gif")
    assert meta["duration"] in (120, 130)                             # 1/8 s in 1/100 s steps
    with pytest.raises(ValueError, match="fps"):
        gif_bytes(toy_clip(2, 8, 8), fps=100)


# ---------------------------------------------------------------------------------------------
# Bad input gets a clear error


@pytest.mark.parametrize("name", ["clip.avi", "clip", "clip.webm"])
def test_unknown_extension_is_named_with_the_allowed_ones(tmp_path, name):
    for call in (lambda: save_clip(tmp_path / name, toy_clip(2, 8, 8)),
                 lambda: load_clip(tmp_path / name)):
        with pytest.raises(ValueError) as err:
            call()
        assert ".npy .gif .mp4" in str(err.value)
        assert (tmp_path / name).suffix in str(err.value) or "(none)" in str(err.value)


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nowhere" / "clip.gif"
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        load_clip(path)


def _corrupt_files(tmp_path):
    clip = toy_clip(8, 16, 16)
    good = {ext: save_clip(tmp_path / f"good{ext}", clip).read_bytes()
            for ext in (".gif", ".mp4", ".npy")}
    files = {
        "truncated.gif": good[".gif"][: len(good[".gif"]) // 2],
        "garbage.gif": b"not a gif at all",
        "truncated.mp4": good[".mp4"][: len(good[".mp4"]) // 2],
        "garbage.mp4": b"\x00" * 64,
        "truncated.npy": good[".npy"][: len(good[".npy"]) // 2],
        "garbage.npy": b"garbage",
        "empty.gif": b"",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    np.save(tmp_path / "float.npy", clip.astype(np.float32))
    np.save(tmp_path / "image.npy", clip[0])                          # (H, W, 3): not a clip
    np.save(tmp_path / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return [tmp_path / n for n in [*files, "float.npy", "image.npy", "pickled.npy"]]


def test_corrupt_or_wrong_files_give_one_clear_value_error(tmp_path):
    for path in _corrupt_files(tmp_path):
        with pytest.raises(ValueError) as err:
            load_clip(path)
        message = str(err.value)
        assert message.startswith(f"could not read clip '{path}': "), message
        assert len(message.splitlines()) == 1 and len(message) < 400, message
        assert err.value.__cause__ is None and err.value.__suppress_context__


def test_npy_errors_say_what_was_expected(tmp_path):
    np.save(tmp_path / "float.npy", np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"expected uint8 \(T, H, W, 3\), found float32"):
        load_clip(tmp_path / "float.npy")
    np.save(tmp_path / "obj.npy", np.array([None], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle=False"):        # never unpickles
        load_clip(tmp_path / "obj.npy")


def test_saving_a_float_or_misshapen_clip_is_refused(tmp_path):
    with pytest.raises(ValueError, match="uint8 clip .*to_uint8"):
        save_clip(tmp_path / "x.gif", np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        save_clip(tmp_path / "x.npy", np.zeros((2, 3, 8, 8), np.uint8))


# ---------------------------------------------------------------------------------------------
# Tensors


def test_to_tensor_and_to_uint8_round_trip_exactly_in_range():
    values = np.arange(256, dtype=np.uint8)
    clips = np.broadcast_to(values.reshape(1, 1, 16, 16, 1), (2, 3, 16, 16, 3)).copy()
    x = to_tensor(clips)
    assert x.shape == (2, 3, 3, 16, 16) and x.dtype == torch.float32
    assert x.min().item() == -1.0 and x.max().item() == 1.0
    np.testing.assert_array_equal(to_uint8(x), clips)
    np.testing.assert_array_equal(to_uint8(to_tensor(clips[0])), clips[0])
    assert to_uint8(torch.full((3, 1, 2, 2), 5.0)).max() == 255         # clamped, not wrapped
    with pytest.raises(ValueError, match="uint8"):
        to_tensor(clips.astype(np.float32))


# ---------------------------------------------------------------------------------------------
# Grids and inline display


def test_grid_shapes_padding_scale_and_held_last_frames():
    clips = [toy_clip(T, 4, 6, seed=T) for T in (3, 5, 5, 1, 2)]
    g = grid(clips, cols=3, pad=2, scale=2)
    assert g.shape == (5, 2 + 2 * (8 + 2), 2 + 3 * (12 + 2), 3) and g.dtype == np.uint8
    first = g[:, 2:10, 2:14]                                           # cell 0, scaled x2
    np.testing.assert_array_equal(first[2], clips[0][2].repeat(2, 0).repeat(2, 1))
    np.testing.assert_array_equal(first[4], first[2])                 # held its last frame
    assert (g[:, :2] == 255).all() and (g[:, 12:22, 44:] == 255).all()  # pad and empty cell
    assert grid(np.stack([toy_clip(4, 8, 8)] * 8), pad=0).shape == (4, 16, 32, 3)  # 4 x 2
    with pytest.raises(ValueError, match="scale"):
        grid(clips, scale=0)


def test_show_embeds_one_gif_of_the_grid_with_the_captions():
    clips = np.stack([toy_clip(16, 32, 32, seed=i) for i in range(8)])
    captions = [f"a large red square moving left while a blue circle is falling, clip {i}"
                for i in range(8)]
    page = show(clips, captions).data
    assert len(page) < 200_000
    frames = gif_from_html(page)
    np.testing.assert_array_equal(frames, grid(clips, pad=0))
    assert frames.shape[0] == 16
    cell = r'background-position:-(\d+)px -(\d+)px"></div><figcaption[^>]*>([^<]*)<'
    cells = re.findall(cell, page)
    assert [(int(x), int(y), text) for x, y, text in cells] == [
        (128 * (i % 4), 128 * (i // 4), captions[i]) for i in range(8)]  # each under its own cell


def test_show_accepts_model_tensors_and_single_clips_and_escapes_captions():
    x = to_tensor(np.stack([toy_clip(4, 16, 24, seed=i) for i in range(3)]))  # (3, 3, 4, 16, 24)
    page = show(x, ["one", "two", "<b>three</b>"], cols=3).data
    assert gif_from_html(page).shape == (4, 16, 72, 3)
    assert "&lt;b&gt;three&lt;/b&gt;" in page and "<b>three" not in page
    assert gif_from_html(show(x[0], "alone").data).shape == (4, 16, 24, 3)
    assert gif_from_html(show(toy_clip(4, 16, 24)).data).shape == (4, 16, 24, 3)
    assert "width:128px" in show(toy_clip(2, 32, 32)).data            # cells ~128 px by default
    with pytest.raises(ValueError, match="3 clips but 2 captions"):
        show(x, ["one", "two"])


# ---------------------------------------------------------------------------------------------
# Folders of real clips


@pytest.fixture
def folder(tmp_path):
    save_clip(tmp_path / "red_ball-falling.gif", toy_clip(16, 20, 30))
    save_clip(tmp_path / "sub" / "wide_clip.mp4", toy_clip(6, 48, 80))
    still = np.zeros((3, 8, 8, 3), np.uint8)
    still[:, :, :, 0] = np.array([10, 20, 30], np.uint8)[:, None, None]  # frame t is red 10*(t+1)
    save_clip(tmp_path / "tiny.npy", still)
    (tmp_path / "notes.txt").write_text("not a clip")
    return tmp_path


def test_clip_folder_gives_the_configured_shape_from_any_size(folder):
    data = ClipFolder(folder, frames=8, height=16, width=24, stride=1)
    assert len(data) == 3
    for item in data:
        assert item["video"].shape == (3, 8, 16, 24) and item["video"].dtype == torch.float32
        assert -1 <= item["video"].min() and item["video"].max() <= 1
    tiny = next(d for d in data if d["path"].endswith("tiny.npy"))
    red = to_uint8(tiny["video"])[..., 0][:, 0, 0]                    # (frames,)
    np.testing.assert_array_equal(red, [10, 20, 30, 30, 30, 30, 30, 30])  # repeats its last frame
    strided = ClipFolder(folder, frames=3, height=8, width=8, stride=2)
    item = next(d for d in strided if d["path"].endswith("tiny.npy"))
    np.testing.assert_array_equal(to_uint8(item["video"])[..., 0][:, 0, 0], [10, 30, 30])


def test_clip_folder_covers_then_centre_crops(tmp_path):
    bands = np.zeros((2, 10, 40, 3), np.uint8)       # red | green (the middle half) | blue
    bands[:, :, :10, 0], bands[:, :, 10:30, 1], bands[:, :, 30:, 2] = 255, 255, 255
    save_clip(tmp_path / "small" / "bands.npy", bands)
    save_clip(tmp_path / "large" / "bands.npy", bands.repeat(4, 1).repeat(4, 2))  # 40 x 160
    for size in ("small", "large"):                  # enlarged x2 / shrunk x4, then cropped
        video = ClipFolder(tmp_path / size, frames=2, height=20, width=20)[0]["video"]
        np.testing.assert_array_equal(to_uint8(video), np.broadcast_to([0, 255, 0], (2, 20, 20, 3)))


def test_clip_folder_shrinks_by_area_average(tmp_path):
    stripes = np.zeros((1, 32, 32, 3), np.uint8)
    stripes[:, :, ::4] = 255                         # one bright column in four
    save_clip(tmp_path / "stripes.npy", stripes)
    video = ClipFolder(tmp_path, frames=1, height=8, width=8)[0]["video"]
    np.testing.assert_array_equal(to_uint8(video), np.full((1, 8, 8, 3), 64))  # mean of 255,0,0,0


def test_clip_folder_captions_from_jsonl_else_stems(folder):
    stems = {d["path"].rsplit("/", 1)[1]: d["caption"] for d in ClipFolder(folder, 2, 8, 8)}
    assert stems == {"red_ball-falling.gif": "red ball falling", "wide_clip.mp4": "wide clip",
                     "tiny.npy": "tiny"}
    lines = [{"file": "sub/wide_clip.mp4", "caption": "a wide clip of two squares"},
             {"file": "tiny.npy", "caption": "a red screen getting brighter", "extra": 1}]
    (folder / "captions.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    listed = {d["path"].rsplit("/", 1)[1]: d["caption"] for d in ClipFolder(folder, 2, 8, 8)}
    assert listed == {"red_ball-falling.gif": "red ball falling",
                      "wide_clip.mp4": "a wide clip of two squares",
                      "tiny.npy": "a red screen getting brighter"}
    (folder / "captions.jsonl").write_text('{"file": "tiny.npy"}\n')
    with pytest.raises(ValueError, match=r"captions.jsonl' line 1: .*\"caption\""):
        ClipFolder(folder, 2, 8, 8)


def test_clip_folder_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "missing"))):
        ClipFolder(tmp_path / "missing", 4, 8, 8)
    (tmp_path / "empty" / "deeper").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"no clips in folder .*empty.*\.npy \.gif \.mp4"):
        ClipFolder(tmp_path / "empty", 4, 8, 8)
    with pytest.raises(ValueError, match="frames"):
        ClipFolder(tmp_path, 0, 8, 8)
    (tmp_path / "broken.gif").write_bytes(b"GIF89a broken")
    data = ClipFolder(tmp_path, 4, 8, 8)                              # found, read on access
    broken = re.escape(f"could not read clip '{tmp_path / 'broken.gif'}': ")
    with pytest.raises(ValueError, match=broken):
        data[0]


def test_show_scales_a_strip_of_frames_by_the_frame_not_the_strip():
    import re

    strip = np.zeros((4, 32, 8 * 33, 3), np.uint8)                  # eight 32 px frames side by side
    html_ = show(strip).data
    width = int(re.search(r"width:(\d+)px;height", html_).group(1))
    assert width >= 3 * strip.shape[2]                               # frames about 100 px, not 32
    assert width <= 960
    one = show(np.zeros((4, 32, 32, 3), np.uint8)).data
    assert int(re.search(r"width:(\d+)px;height", one).group(1)) == 128
