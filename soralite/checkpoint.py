"""Checkpoints as directories: `config.json` plus safetensors, saved atomically (notebook 03; 06 reuses it).

A checkpoint directory holds
```
config.json          the model's config (JSON)
model.safetensors    the model's weights
extra.safetensors    optional tensors that are not weights: optimizer moments, RNG states
meta.json            optional JSON: training step, optimizer hyper-parameters, metrics, ...
manifest.json        size and sha256 of each file above, written last
```
Loading never unpickles: tensors come from safetensors, everything else from JSON, so a
checkpoint from anywhere can be opened safely. Optimizer state is flattened into tensors plus
JSON (`flatten_optimizer_state`).

Saving is atomic: the files are written to a temporary directory next to the target, flushed to
disk (fsync), and only then swapped in by renaming, so a save that is interrupted at any point
leaves the previous checkpoint loadable. (The swap is two renames: if the process dies between
them, the previous checkpoint is at `.<name>.old` and `load_pretrained` and the next save put it
back.) One process writes a given checkpoint directory at a time.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as _st_load
from safetensors.torch import save as _st_save

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
EXTRA_FILE = "extra.safetensors"
META_FILE = "meta.json"
MANIFEST_FILE = "manifest.json"
_TMP_TAG = ".tmp-"
_OLD_TAG = ".old"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: corrupt, incomplete, or for another config."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """There is no checkpoint at that path."""


class ConfigMismatchError(CheckpointError):
    """The checkpoint was saved with a config that differs from the one asked for."""


class CorruptCheckpointError(CheckpointError):
    """A file of the checkpoint does not match its manifest (truncated or altered)."""


_CORRUPT_HELP = ("train it anew with --fresh (the corrupt files are moved to replaced/, not "
                 "deleted), or restore the folder from a copy")


class TargetError(CheckpointError):
    """A save was refused: the target is a file, or a folder that is not a checkpoint of that kind."""


CHECKPOINT_FILES = (CONFIG_FILE, WEIGHTS_FILE, EXTRA_FILE, META_FILE, MANIFEST_FILE)


@dataclass
class Checkpoint:
    """What `load_pretrained` returns."""

    path: Path
    config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    extra: dict[str, torch.Tensor] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------
# Save


def save_pretrained(directory: str | os.PathLike, config_dict: dict[str, Any],
                    state_dict: dict[str, torch.Tensor],
                    extra_tensors: dict[str, torch.Tensor] | None = None,
                    meta: dict[str, Any] | None = None, kind: str | None = None) -> Path:
    """Atomically write a checkpoint directory; returns its path.

    `config_dict` and `meta` must be JSON-serializable; tensors are copied to the CPU. `kind`
    ("vae", "denoiser", ...) is recorded in the manifest. The save replaces only a checkpoint
    (of the same kind, where both are known): a target that is a file, or a folder holding
    anything else, raises `TargetError` before anything is written (`check_target`).
    """
    target = Path(directory).absolute()
    check_target(target, kind)
    target.parent.mkdir(parents=True, exist_ok=True)
    _recover(target)
    _remove_stale_tmp(target)
    files = {CONFIG_FILE: _json_bytes(config_dict, "config_dict"),
             WEIGHTS_FILE: _st_save(_cpu_tensors(state_dict))}
    if extra_tensors:
        files[EXTRA_FILE] = _st_save(_cpu_tensors(extra_tensors))
    if meta is not None:
        files[META_FILE] = _json_bytes(meta, "meta")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{_TMP_TAG}{os.getpid()}-", dir=target.parent))
    try:
        manifest = {name: _write_file(tmp / name, data) for name, data in files.items()}
        head = {"kind": kind} if kind else {}
        _write_file(tmp / MANIFEST_FILE, _json_bytes({**head, "files": manifest}, "manifest"))
        _fsync_dir(tmp)
        os.chmod(tmp, 0o777 & ~_umask())                  # mkdtemp makes it private (0700)
        _swap_in(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def check_target(directory: str | os.PathLike, kind: str | None = None) -> None:
    """Raise `TargetError` unless `directory` may receive a checkpoint of `kind`: it does not
    exist, is an empty folder, or holds a checkpoint (of that kind, where both are known) and
    nothing else. Nothing a user put there is ever replaced."""
    target = Path(directory).absolute()
    if target.exists() and not target.is_dir():
        raise TargetError(f"cannot save a checkpoint to {target}: it is a file, not a folder; "
                          f"give a folder path (it is created if missing)")
    if not target.is_dir():
        if target.parent.exists() and not target.parent.is_dir():
            raise TargetError(f"cannot save a checkpoint to {target}: {target.parent} is a file")
        return
    entries = sorted(p.name for p in target.iterdir())
    if not entries:
        return
    strangers = [e for e in entries if e not in CHECKPOINT_FILES]
    if strangers or not has_checkpoint(target):
        shown = ", ".join(strangers[:5] or entries[:5]) + (", ..." if len(strangers or entries) > 5 else "")
        raise TargetError(f"refusing to save a checkpoint to {target}: the folder exists and is not "
                          f"a soralite checkpoint (it holds {shown}); save to a new or empty folder, "
                          f"or move those files away first")
    saved = checkpoint_kind(target)
    if kind and saved and saved != kind:
        raise TargetError(f"refusing to save a {kind} checkpoint to {target}: it holds a {saved} "
                          f"checkpoint; save to another folder")


def checkpoint_kind(directory: str | os.PathLike) -> str | None:
    """The kind a checkpoint records (manifest, else meta), or None."""
    path = Path(directory)
    for name in (MANIFEST_FILE, META_FILE):
        try:
            kind = json.loads((path / name).read_text()).get("kind")
        except (OSError, ValueError, AttributeError):
            continue
        if kind:
            return kind
    return None


def weights_sha256(state_dict: dict[str, torch.Tensor]) -> str:
    """The sha256 of the weights as `save_pretrained` writes them (the manifest's sha256 of
    `model.safetensors`): one identity for the weights in memory and on disk."""
    return hashlib.sha256(_st_save(_cpu_tensors(state_dict))).hexdigest()


def saved_weights_sha256(directory: str | os.PathLike) -> str | None:
    """The sha256 of a saved checkpoint's weights, from its manifest (None where it has none)."""
    try:
        manifest = json.loads((Path(directory) / MANIFEST_FILE).read_text())
        return manifest["files"][WEIGHTS_FILE]["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_file(path: Path, data: bytes) -> dict[str, Any]:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _swap_in(tmp: Path, target: Path) -> None:
    """Replace `target` by the finished `tmp` directory: rename the old one aside, rename the new
    one in, then delete the old one."""
    old = _old_path(target)
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.rename(target, old)
    os.rename(tmp, target)
    _fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)


def _recover(target: Path) -> None:
    """Finish an interrupted swap: put the previous checkpoint back if the new one never arrived."""
    old = _old_path(target)
    if old.is_dir() and not target.exists():
        os.rename(old, target)


def _remove_stale_tmp(target: Path) -> None:
    """Delete temporary directories left by saves whose process has died."""
    for p in target.parent.glob(f".{target.name}{_TMP_TAG}*"):
        pid = p.name[len(f".{target.name}{_TMP_TAG}"):].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False                      # our own earlier save that was interrupted
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _old_path(target: Path) -> Path:
    return target.parent / f".{target.name}{_OLD_TAG}"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:                       # platforms that cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _cpu_tensors(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in tensors.items():
        if not torch.is_tensor(v):
            raise TypeError(f"checkpoint tensors must be torch tensors; {k!r} is a {type(v).__name__}")
        out[k] = v.detach().to("cpu", copy=True).contiguous()   # copies: tied weights are fine
    return out


def _json_bytes(obj: Any, what: str) -> bytes:
    try:
        return json.dumps(obj, indent=2, sort_keys=True, allow_nan=True).encode()
    except TypeError as e:
        raise TypeError(f"the checkpoint's {what} must be JSON-serializable: {e}") from None


# ----------------------------------------------------------------------------------------------
# Load


def load_pretrained(directory: str | os.PathLike, load_extra: bool = True) -> Checkpoint:
    """Read a checkpoint directory, checking every file against the manifest.

    Raises `CheckpointNotFoundError` when there is none, `CheckpointError` when a file is
    missing, truncated or altered.
    """
    path = Path(directory).absolute()
    if not path.exists() and _old_path(path).is_dir():
        path = _old_path(path)            # a save died between its two renames
    if not path.is_dir():
        raise CheckpointNotFoundError(f"no checkpoint at {path}: the directory does not exist")
    if not (path / CONFIG_FILE).exists():
        raise CheckpointNotFoundError(f"no checkpoint at {path}: {CONFIG_FILE} is missing")
    manifest = _read_json(path, MANIFEST_FILE)["files"] if (path / MANIFEST_FILE).exists() else None
    for name in (CONFIG_FILE, WEIGHTS_FILE) + (tuple(manifest) if manifest else ()):
        if not (path / name).exists():
            raise CheckpointError(f"checkpoint at {path} is incomplete: {name} is missing")

    def read(name: str) -> bytes:
        data = (path / name).read_bytes()
        if manifest and name in manifest:
            want = manifest[name]
            if len(data) != want["bytes"]:
                raise CorruptCheckpointError(
                    f"{path / name} is corrupt: {len(data)} bytes where {MANIFEST_FILE} records "
                    f"{want['bytes']} (truncated or overwritten); {_CORRUPT_HELP}")
            if hashlib.sha256(data).hexdigest() != want["sha256"]:
                raise CorruptCheckpointError(
                    f"{path / name} is corrupt: its sha256 differs from the one {MANIFEST_FILE} "
                    f"records (its bytes were changed); {_CORRUPT_HELP}")
        return data

    config = _parse_json(read(CONFIG_FILE), path / CONFIG_FILE)
    state_dict = _parse_tensors(read(WEIGHTS_FILE), path / WEIGHTS_FILE)
    extra = {}
    if load_extra and (path / EXTRA_FILE).exists():
        extra = _parse_tensors(read(EXTRA_FILE), path / EXTRA_FILE)
    meta = _parse_json(read(META_FILE), path / META_FILE) if (path / META_FILE).exists() else {}
    return Checkpoint(path=path, config=config, state_dict=state_dict, extra=extra, meta=meta)


def has_checkpoint(directory: str | os.PathLike) -> bool:
    """Whether `directory` looks like a checkpoint (cheap: checks that the files exist)."""
    path = Path(directory)
    if not path.exists() and _old_path(path.absolute()).is_dir():
        path = _old_path(path.absolute())
    return (path / CONFIG_FILE).is_file() and (path / WEIGHTS_FILE).is_file()


def _read_json(path: Path, name: str) -> Any:
    return _parse_json((path / name).read_bytes(), path / name)


def _parse_json(data: bytes, where: Path) -> Any:
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{where} is corrupt: not valid JSON ({e})") from None


def _parse_tensors(data: bytes, where: Path) -> dict[str, torch.Tensor]:
    try:
        return _st_load(data)
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{where} is corrupt: not a readable safetensors file ({e})") from None


# ----------------------------------------------------------------------------------------------
# Checks


def check_config(saved: dict[str, Any], expected: dict[str, Any], directory: str | os.PathLike,
                 prefix: str = "", ignore: tuple[str, ...] = ()) -> None:
    """Raise `ConfigMismatchError` naming every field where `saved` and `expected` differ."""
    expected = json.loads(json.dumps(expected))           # tuples -> lists, as saved
    diffs = []
    for key in sorted(set(saved) | set(expected)):
        if key in ignore:
            continue
        a, b = saved.get(key, "<absent>"), expected.get(key, "<absent>")
        if a != b:
            diffs.append(f"{prefix}{key} (checkpoint: {a!r}, config: {b!r})")
    if diffs:
        raise ConfigMismatchError(f"the checkpoint at {directory} was saved with a different config; "
                                  f"differing fields: {'; '.join(diffs)}")


def load_state_dict_strict(module: torch.nn.Module, state_dict: dict[str, torch.Tensor],
                           directory: str | os.PathLike) -> None:
    """`module.load_state_dict` with an error that names missing, unexpected and misshapen tensors."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = [f"{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
              if k in state_dict and state_dict[k].shape != v.shape]
    if missing or unexpected or shapes:
        raise CheckpointError(f"the weights at {directory} do not fit this model: "
                              f"missing {missing or 'none'}; unexpected {unexpected or 'none'}; "
                              f"shape (checkpoint vs model) {shapes or 'all match'}. A checkpoint "
                              f"of an earlier soralite? Train it again (--fresh keeps the old one "
                              f"in replaced/)")
    module.load_state_dict(state_dict)


# ----------------------------------------------------------------------------------------------
# Optimizer state as tensors + JSON


def flatten_optimizer_state(state: dict[str, Any], prefix: str = "optimizer"
                            ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """`optimizer.state_dict()` -> (tensors named `prefix.state.<param>.<name>`, JSON-able rest)."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for idx, per_param in state["state"].items():
        for name, value in per_param.items():
            key = f"{prefix}.state.{idx}.{name}"
            if torch.is_tensor(value):
                tensors[key] = value
            else:
                scalars[key] = value
    info = {"param_groups": state["param_groups"], "scalars": scalars}
    _json_bytes(info, "optimizer param_groups")           # fail now, not at save time
    return tensors, info


def unflatten_optimizer_state(tensors: dict[str, torch.Tensor], info: dict[str, Any],
                              prefix: str = "optimizer") -> dict[str, Any]:
    """The inverse of `flatten_optimizer_state`: a dict for `optimizer.load_state_dict`."""
    state: dict[int, dict[str, Any]] = defaultdict(dict)
    head = f"{prefix}.state."
    for key, value in list(tensors.items()) + list(info.get("scalars", {}).items()):
        if key.startswith(head):
            idx, name = key[len(head):].split(".", 1)
            state[int(idx)][name] = value
    return {"state": dict(state), "param_groups": info["param_groups"]}
