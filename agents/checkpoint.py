"""Orbax checkpoints: array trees saved with `StandardCheckpointer`, plus a JSON sidecar.

A checkpoint is a folder:
  arrays/     the orbax tree (params, optimiser states, RNG key data, counters)
  meta.json   what is needed to rebuild the target tree (kind, obs_dim, config) and readable counters

`save_tree` writes into a temporary sibling folder and renames it into place, so a crash mid-save
leaves the previous checkpoint intact. Restoring needs a target tree of the same structure
(`jax.eval_shape` of an init is enough); the arrays come back with the target's dtypes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from agents.config import DiffusionConfig, config_from_dict
from agents.diffusion import DiffusionPolicy

__all__ = ["load_diffusion", "read_meta", "restore_tree", "save_diffusion", "save_tree"]

_ARRAYS, _META = "arrays", "meta.json"


def save_tree(path: str | os.PathLike, tree: Any, meta: dict[str, Any]) -> Path:
    """Saves `tree` (arrays) and `meta` (JSON-able) to folder `path`, replacing it atomically."""
    path = Path(path).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.partial-{uuid.uuid4().hex[:8]}")
    tree = jax.device_get(tree)
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(partial / _ARRAYS, tree)
        checkpointer.wait_until_finished()
    (partial / _META).write_text(json.dumps(meta, indent=2, sort_keys=True))
    old = None
    if path.exists():
        old = path.with_name(f"{path.name}.old-{uuid.uuid4().hex[:8]}")
        path.rename(old)
    partial.rename(path)
    if old is not None:
        shutil.rmtree(old)
    return path


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON sidecar of checkpoint folder `path`."""
    meta_path = Path(path) / _META
    if not meta_path.is_file():
        raise FileNotFoundError(f"checkpoint {path}: no {_META} (not a checkpoint folder?)")
    return json.loads(meta_path.read_text())


def restore_tree(path: str | os.PathLike, target: Any) -> Any:
    """Restores the array tree of checkpoint `path` into the structure (and dtypes) of `target`."""
    path = Path(path).absolute()
    if not (path / _ARRAYS).is_dir():
        raise FileNotFoundError(f"checkpoint {path}: no {_ARRAYS}/ folder")
    abstract = jax.tree.map(_abstract, target)
    with ocp.StandardCheckpointer() as checkpointer:
        return checkpointer.restore(path / _ARRAYS, abstract)


def _abstract(x: Any) -> jax.ShapeDtypeStruct:
    if isinstance(x, jax.ShapeDtypeStruct):
        return x
    return jax.ShapeDtypeStruct(
        np.shape(x), x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype
    )


def save_diffusion(
    path: str | os.PathLike,
    params: dict,
    config: DiffusionConfig,
    obs_dim: int,
    metrics: dict[str, Any] | None = None,
    observation: dict[str, Any] | None = None,
) -> Path:
    """Saves a pretrained diffusion policy (what `rrl pretrain` writes and `rrl train` starts
    from); `observation` is the observation spec it was fitted on (envs.observation_spec)."""
    meta = {
        **({"observation": observation} if observation is not None else {}),
        "kind": "diffusion",
        "obs_dim": int(obs_dim),
        "config": dataclasses.asdict(config),
        "metrics": {k: v for k, v in (metrics or {}).items() if isinstance(v, int | float | str)},
    }
    return save_tree(path, params, meta)


def load_diffusion(path: str | os.PathLike) -> tuple[dict, DiffusionConfig, int]:
    """Loads `(params, config, obs_dim)` written by `save_diffusion`."""
    meta = read_meta(path)
    if meta.get("kind") != "diffusion":
        raise ValueError(f"checkpoint {path}: holds {meta.get('kind')!r}, not a diffusion policy")
    config = config_from_dict(DiffusionConfig, meta["config"])
    obs_dim = int(meta["obs_dim"])
    target = jax.eval_shape(DiffusionPolicy(config, obs_dim).init, jax.random.key(0))
    return restore_tree(path, target), config, obs_dim
