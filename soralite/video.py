"""Clips in and out: tensors <-> uint8 arrays, files, folders of real clips, inline display (notebook 01).

Two conventions meet here (docs/design.md, "Contracts"): models see float tensors `(B, C, T, H, W)`
in `[-1, 1]`; files and numpy hold `uint8 (T, H, W, 3)`.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import struct
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch
import torch.nn.functional as F
from PIL import GifImagePlugin, Image
from torch.utils.data import Dataset


def to_tensor(clips: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 `(N, T, H, W, 3)` or `(T, H, W, 3)` -> float32 `(N, 3, T, H, W)` or `(3, T, H, W)` in [-1, 1]."""
    x = torch.as_tensor(np.asarray(clips) if not torch.is_tensor(clips) else clips)
    if x.dtype != torch.uint8:
        raise ValueError(f"to_tensor expects uint8 clips (T, H, W, 3); got dtype {x.dtype}")
    if x.shape[-1] != 3 or x.ndim not in (4, 5):
        raise ValueError(f"to_tensor expects (T, H, W, 3) or (N, T, H, W, 3); got {tuple(x.shape)}")
    x = x.float().div(127.5).sub(1.0)
    return x.movedim(-1, -4).contiguous()              # (..., T, H, W, 3) -> (..., 3, T, H, W)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float `(N, 3, T, H, W)` or `(3, T, H, W)` in [-1, 1] -> uint8 `(N, T, H, W, 3)` or `(T, H, W, 3)`."""
    if x.ndim not in (4, 5) or x.shape[-4] != 3:
        raise ValueError(f"to_uint8 expects (N, 3, T, H, W) or (3, T, H, W); got {tuple(x.shape)}")
    x = x.detach().float().cpu().clamp(-1, 1).add(1).mul(127.5).round()
    return x.movedim(-4, -1).to(torch.uint8).numpy()   # (..., 3, T, H, W) -> (..., T, H, W, 3)


# ----------------------------------------------------------------------------------------------
# Files: save_clip / load_clip (notebook 01 writes the toy world to disk and reads it back)

CLIP_EXTENSIONS: tuple[str, ...] = (".npy", ".gif", ".mp4", ".png")
MAGIC = {".npy": (b"\x93NUMPY",), ".gif": (b"GIF89a", b"GIF87a"),
         ".png": (b"\x89PNG\r\n",)}                                   # a file's first 6 bytes
GIF_MAX_FPS = 50             # GIF delays are in 1/100 s; browsers slow down delays under 2/100 s
MP4_CODEC = "libx264"
MP4_PIXELFORMAT = "yuv444p"  # no chroma subsampling: keeps 1-pixel colour edges and odd sizes
MP4_QUALITY = 8              # imageio-ffmpeg's 0..10 scale; 8 is x264 crf 10, near-transparent
PAD_VALUE = 255              # grid padding and empty cells: white
SHOW_CELL_PX = 128           # show() picks the scale that makes a frame's short side about this
SHOW_MAX_PX = 960            # ... unless that makes a cell (a strip of frames) wider than this
CAPTION_STYLE = "font:12px/1.3 sans-serif;overflow-wrap:anywhere;margin-top:3px"
CAPTIONS_FILE = "captions.jsonl"   # ClipFolder: {"file": relative path, "caption": text} per line


def _check_int(name: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or int(value) != value or value < low:
        raise ValueError(f"{name} must be an integer >= {low} (got {value!r})")
    return int(value)


def _check_extension(path: Path) -> str:
    ext = path.suffix.lower()
    if ext not in CLIP_EXTENSIONS:
        raise ValueError(f"unknown clip file extension {ext or '(none)'!r} in '{path}'; "
                         f"allowed: {' '.join(CLIP_EXTENSIONS)}")
    return ext


def check_output_path(path: str | Path, extensions: tuple[str, ...] = CLIP_EXTENSIONS) -> Path:
    """Check, before any work, that a clip can be written to `path`: a known extension, not a
    folder, a parent that is (or can be made) a writable folder. Raises `ValueError` saying which."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"cannot write '{path}': it is a folder; give a file name ending in "
                         f"{', '.join(extensions)}")
    if path.suffix.lower() not in extensions:
        raise ValueError(f"cannot write '{path}': the file name must end in "
                         f"{', '.join(extensions)} (got {path.suffix or 'no extension'!r})")
    parent = path.parent
    for p in (parent, *parent.parents):
        if p.exists():
            if not p.is_dir():
                raise ValueError(f"cannot write '{path}': '{p}' is a file, not a folder")
            if not os.access(p, os.W_OK | os.X_OK):
                raise ValueError(f"cannot write '{path}': the folder '{p}' is not writable")
            break
    return path


def _as_clip(clip: np.ndarray | torch.Tensor, what: str) -> np.ndarray:
    """uint8 `(T, H, W, 3)`, or an image `(H, W, 3)` as one frame, else a clear ValueError."""
    clip = clip.detach().cpu().numpy() if torch.is_tensor(clip) else np.asarray(clip)
    clip = clip[None] if clip.ndim == 3 else clip          # (H, W, 3) -> (1, H, W, 3)
    if clip.dtype != np.uint8 or clip.ndim != 4 or clip.shape[-1] != 3 or 0 in clip.shape:
        raise ValueError(f"{what} expects a uint8 clip (T, H, W, 3) or image (H, W, 3); got "
                         f"{clip.dtype} {clip.shape} (convert model tensors with to_uint8)")
    return clip


def save_clip(path: str | Path, clip: np.ndarray | torch.Tensor, fps: float = 8) -> Path:
    """Write a uint8 clip `(T, H, W, 3)` (or an image `(H, W, 3)`) as `.npy`, `.gif` or `.mp4`.

    `.npy` is exact; `.gif` is exact for clips of at most 256 colours and keeps every frame;
    `.mp4` is H.264 (4:4:4) and lossy; `.png` holds one frame (an image), exactly. Any size is
    kept as it is. Parent folders are made."""
    path = Path(path)
    ext, clip = _check_extension(path), _as_clip(clip, "save_clip")
    if not fps > 0:
        raise ValueError(f"fps must be > 0 (got {fps})")
    path.parent.mkdir(parents=True, exist_ok=True)
    if ext == ".npy":
        np.save(path, clip, allow_pickle=False)
    elif ext == ".gif":
        path.write_bytes(gif_bytes(clip, fps))
    elif ext == ".png":
        if len(clip) != 1:
            raise ValueError(f"a .png holds one frame; this clip has {len(clip)} (write .gif or "
                             f".mp4, or save clip[0] as the image)")
        iio.imwrite(path, clip[0], extension=".png")
    else:
        iio.imwrite(path, clip, plugin="FFMPEG", fps=fps, codec=MP4_CODEC, quality=MP4_QUALITY,
                    pixelformat=MP4_PIXELFORMAT, macro_block_size=1, ffmpeg_log_level="error")
    return path


def load_clip(path: str | Path) -> np.ndarray:
    """Read a clip file as uint8 `(T, H, W, 3)` (one-frame GIF: T = 1); never unpickles. A bad
    file raises `ValueError("could not read clip '<path>': <reason>")` (notebook 01)."""
    path = Path(path)
    ext = _check_extension(path)
    if not path.is_file():
        raise FileNotFoundError(f"no clip file at '{path}'")
    try:
        with open(path, "rb") as f:
            if ext in MAGIC and f.read(6) not in MAGIC[ext]:
                raise ValueError(f"not a {ext} file (it does not start with {MAGIC[ext][0]!r})")
        if ext == ".npy":
            clip = np.load(path, allow_pickle=False)
        elif ext == ".gif":
            clip = iio.imread(path, plugin="pillow", index=None, mode="RGB")
            clip = clip[None] if clip.ndim == 3 else clip                 # (1, H, W, 3)
        elif ext == ".png":
            clip = iio.imread(path, plugin="pillow", mode="RGB")[None]    # (1, H, W, 3)
        else:
            clip = iio.imread(path, plugin="FFMPEG")
        if clip.dtype != np.uint8 or clip.ndim != 4 or clip.shape[-1] != 3 or 0 in clip.shape:
            raise ValueError(f"expected uint8 (T, H, W, 3), found {clip.dtype} {clip.shape}")
    except Exception as err:  # noqa: BLE001 -- every decoder's failure becomes one clear line
        lines = [s.strip() for s in str(err).splitlines() if s.strip()] or [type(err).__name__]
        raise ValueError(f"could not read clip '{path}': {lines[-1]}") from None
    return np.ascontiguousarray(clip)


# ----------------------------------------------------------------------------------------------
# GIF encoding: one palette for the whole clip and every frame kept (imageio/Pillow's writer
# merges repeated frames, which would change T)

def _palettize(clip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (T, H, W, 3) -> palette (P <= 256, 3), indices (T, H, W); exact to 256 colours."""
    rgb = clip.astype(np.uint32)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]       # (T, H, W)
    colours, inverse = np.unique(packed, return_inverse=True)
    if len(colours) <= 256:
        palette = np.stack([colours >> 16, (colours >> 8) & 255, colours & 255], -1)
        return palette.astype(np.uint8), inverse.reshape(packed.shape).astype(np.uint8)
    mosaic = Image.fromarray(clip.reshape(-1, *clip.shape[2:]))           # (T*H, W, 3)
    q = mosaic.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    return np.asarray(q.getpalette(), np.uint8).reshape(-1, 3), np.asarray(q).reshape(packed.shape)


def gif_bytes(clip: np.ndarray | torch.Tensor, fps: float = 8) -> bytes:
    """A looping GIF of a uint8 clip `(T, H, W, 3)`, encoder of save_clip and show (notebook 01)."""
    clip = _as_clip(clip, "gif_bytes")
    if not 0 < fps <= GIF_MAX_FPS:
        raise ValueError(f"GIF fps must be in (0, {GIF_MAX_FPS}] (got {fps})")
    palette, index = _palettize(clip)                                     # (P, 3), (T, H, W)
    bits = max(1, int(np.ceil(np.log2(len(palette)))))                    # table of 2**bits
    table = np.pad(palette, ((0, 2 ** bits - len(palette)), (0, 0)))     # (2**bits, 3)
    T, H, W = index.shape
    out = [b"GIF89a", struct.pack("<HHBBB", W, H, 0x80 | (bits - 1) << 4 | (bits - 1), 0, 0),
           table.tobytes(), b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"]  # loop forever
    stamps = np.round(np.arange(T + 1) * 100 / fps).astype(int)   # frame starts in 1/100 s, so
    for t in range(T):                                            # delays average exactly 1/fps
        delay_ms = 10 * int(stamps[t + 1] - stamps[t])
        out += GifImagePlugin.getdata(Image.fromarray(index[t]), duration=delay_ms)  # (H, W) "L"
    return b"".join(out + [b";"])


# ----------------------------------------------------------------------------------------------
# Grids and inline display (notebook 01 onwards: every notebook that shows clips)

def _clip_list(clips, what: str) -> list[np.ndarray]:
    """Clips as show() takes them -> a list of uint8 `(T, H, W, 3)`; floats go through to_uint8."""
    if not isinstance(clips, (list, tuple)):
        x = clips if torch.is_tensor(clips) else torch.as_tensor(np.asarray(clips))
        x = to_uint8(x) if x.is_floating_point() else x.cpu().numpy()   # (N, T, H, W, 3) uint8
        clips = list(x) if x.ndim == 5 else [x]
    if len(clips) == 0:
        raise ValueError(f"{what} needs at least one clip (got none)")
    return [_as_clip(c, what) for c in clips]


def _default_cols(n: int, max_cols: int = 4) -> int:
    return -(-n // -(-n // max_cols))      # fewest rows of at most 4, balanced: 6 -> 3x2, 8 -> 4x2


def grid(clips, cols: int | None = None, pad: int = 2, scale: int = 1) -> np.ndarray:
    """Tile clips `(N, T, H, W, 3)` (or a list of any lengths and sizes) into one uint8 clip.

    Shorter clips hold their last frame; smaller ones sit centred in their cell; `scale` is an
    integer nearest-neighbour upscaling; `pad` white pixels go between and around cells. Used
    from notebook 01 on to put samples side by side in one file."""
    clips = _clip_list(clips, "grid")
    scale, pad = _check_int("scale", scale), _check_int("pad", pad, low=0)
    cols = _check_int("cols", _default_cols(len(clips)) if cols is None else cols)
    rows = -(-len(clips) // cols)
    T = max(len(c) for c in clips)
    H, W = (scale * max(c.shape[k] for c in clips) for k in (1, 2))
    out = np.full((T, pad + rows * (H + pad), pad + cols * (W + pad), 3), PAD_VALUE, np.uint8)
    for i, clip in enumerate(clips):
        clip = clip.repeat(scale, axis=1).repeat(scale, axis=2)         # (T_i, h, w, 3)
        clip = np.concatenate([clip, clip[-1:].repeat(T - len(clip), axis=0)])  # (T, h, w, 3)
        (r, c), (h, w) = divmod(i, cols), clip.shape[1:3]
        top, left = pad + r * (H + pad) + (H - h) // 2, pad + c * (W + pad) + (W - w) // 2
        out[:, top:top + h, left:left + w] = clip
    return out


def show(clips, captions: list[str] | str | None = None, fps: float = 8,
         scale: int | None = None, cols: int | None = None):
    """Show clips inline in a notebook as one animated GIF in a grid, each with its caption.

    Clips: uint8 `(N, T, H, W, 3)` or `(T, H, W, 3)`, or model tensors `(N, 3, T, H, W)` or
    `(3, T, H, W)` in [-1, 1]. The GIF is encoded once at its own resolution; each cell is a
    window onto it (one image, so all cells play in step) that the browser enlarges by `scale`
    with crisp pixels (default: the frame's short side about 128 px, so a strip of frames shows
    each frame at that size too, up to cells `SHOW_MAX_PX` wide); captions are HTML text under
    their cell, wrapped. Returns an `IPython.display.HTML` (notebook 01 onwards)."""
    from IPython.display import HTML   # lazily: only notebooks display, and IPython is slow to import

    clips = _clip_list(clips, "show")
    captions = [captions] if isinstance(captions, str) else captions
    if captions is not None and len(captions) != len(clips):
        raise ValueError(f"show got {len(clips)} clips but {len(captions)} captions")
    H, W = (max(c.shape[k] for c in clips) for k in (1, 2))
    if scale is None:                                # by the frame's size, not the strip's width
        scale = max(1, min(round(SHOW_CELL_PX / min(H, W)), SHOW_MAX_PX // W))
    scale = _check_int("scale", scale)
    cols = _check_int("cols", _default_cols(len(clips)) if cols is None else cols)
    sheet = grid(clips, cols=cols, pad=0)                                 # (T, rows*H, cols*W, 3)
    data = base64.b64encode(gif_bytes(sheet, fps)).decode("ascii")
    name = "soralite-" + hashlib.sha1(data.encode()).hexdigest()[:12]     # CSS class of this GIF
    h, w = H * scale, W * scale                                           # a cell on screen, px
    html_ = [f"<style>.{name}{{background:url('data:image/gif;base64,{data}') no-repeat;"
             f"background-size:{sheet.shape[2] * scale}px {sheet.shape[1] * scale}px;"
             f"image-rendering:pixelated;width:{w}px;height:{h}px}}</style>"
             f'<div style="display:grid;grid-template-columns:repeat({cols},{w}px);gap:10px 8px">']
    for i, text in enumerate(html.escape(str(s)) for s in captions or [""] * len(clips)):
        r, c = divmod(i, cols)
        html_.append(f'<figure style="margin:0;width:{w}px"><div class="{name}" role="img" '
                     f'aria-label="{text}" style="background-position:-{c * w}px -{r * h}px">'
                     f'</div><figcaption style="{CAPTION_STYLE}">{text}</figcaption></figure>')
    return HTML("".join(html_) + "</div>")


# ----------------------------------------------------------------------------------------------
# Folders of real clips (notebook 01: train on your own videos, not only on the toy world)

def clip_files(root: str | Path) -> list[Path]:
    """The clip files under `root` (recursively, sorted; hidden files and folders skipped), as
    `ClipFolder` reads them; a missing or clipless folder is an error that says so."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"no clip folder at '{root}'")
    found = sorted(p for p in root.rglob("*") if p.suffix.lower() in CLIP_EXTENSIONS)
    files = [p for p in found if p.is_file()
             and not any(s.startswith(".") for s in p.relative_to(root).parts)]
    if not files:
        raise ValueError(f"no clips in folder '{root}' (looked recursively for "
                         f"{' '.join(CLIP_EXTENSIONS)})")
    return files


class ClipFolder(Dataset):
    """A torch Dataset of the `.gif`, `.mp4` and `.npy` clips under `root` (recursively).

    Item: `{"video": float32 (3, frames, height, width) in [-1, 1], "caption": str, "path": str}`.
    Time: `frames` frames `stride` apart from the start; a short clip repeats its last frame.
    Space: resize to cover `(height, width)` keeping the aspect ratio ("area" when shrinking,
    "bilinear" when enlarging), then centre-crop. Captions: `root/captions.jsonl` where it
    lists the file, else the file's stem with `_`/`-` as spaces. Built in notebook 01."""

    def __init__(self, root: str | Path, frames: int, height: int, width: int, stride: int = 1):
        self.root = Path(root)
        self.frames, self.height = _check_int("frames", frames), _check_int("height", height)
        self.width, self.stride = _check_int("width", width), _check_int("stride", stride)
        self.files = clip_files(self.root)
        path, listed = self.root / CAPTIONS_FILE, {}
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
        for n, line in enumerate(lines, start=1):
            try:
                if line.strip():
                    entry = json.loads(line)
                    listed[Path(entry["file"]).as_posix()] = str(entry["caption"])
            except (json.JSONDecodeError, KeyError, TypeError):
                raise ValueError(f"'{path}' line {n}: expected a JSON object with \"file\" and "
                                 f"\"caption\"; got {line[:80]!r}") from None
        self.captions = [listed.get(p.relative_to(self.root).as_posix(),
                                    p.stem.replace("_", " ").replace("-", " ")) for p in self.files]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> dict:
        clip = load_clip(self.files[i])                                   # (T0, H0, W0, 3) uint8
        t = np.minimum(np.arange(self.frames) * self.stride, len(clip) - 1)
        video = resize_frames(to_tensor(clip[t]), self.height, self.width)   # (3, frames, H, W)
        return {"video": video, "caption": self.captions[i], "path": str(self.files[i])}


def resize_frames(video: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """A model tensor `(3, T, H0, W0)` resized to cover `(height, width)` keeping the aspect ratio
    ("area" when shrinking, "bilinear" when enlarging), then centre-cropped: `(3, T, height, width)`."""
    x = video.movedim(0, 1)                                               # (T, 3, H0, W0)
    H0, W0 = x.shape[-2:]
    s = max(height / H0, width / W0)                                      # cover, keep aspect
    h, w = max(height, round(H0 * s)), max(width, round(W0 * s))
    if (h, w) != (H0, W0):
        x = F.interpolate(x, size=(h, w), mode="area" if s < 1 else "bilinear",
                          align_corners=None if s < 1 else False)         # (T, 3, h, w)
    top, left = (h - height) // 2, (w - width) // 2
    x = x[..., top:top + height, left:left + width]                       # (T, 3, H, W)
    return x.movedim(1, 0).clamp(-1, 1).contiguous()                      # (3, T, H, W)


def resize_clip(clip: np.ndarray, height: int, width: int) -> np.ndarray:
    """A uint8 clip `(T, H0, W0, 3)` resized to cover `(height, width)` and centre-cropped."""
    return to_uint8(resize_frames(to_tensor(_as_clip(clip, "resize_clip")), height, width))
