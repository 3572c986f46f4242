"""Files of mdlstm: model files, streamed generations, atomic writes.

Nothing here unpickles: a model file is safetensors weights plus a JSON header
(:func:`write_model`, :func:`read_model`); a streamed generation is a ``.npy``
file plus a safetensors state file written after every chunk.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from . import __version__

#: Version of the model file layout; files from a newer version are refused.
#: 1: LSTMs; 2: the header names the network's ``architecture`` (an LSTM file
#: is still written as version 1, which every mdlstm reads).
FORMAT_VERSION = 2


_META_KEY = "mdlstm"


class _MemorySink:
    """Generated states kept on the device, returned as one numpy array."""

    done = 0

    def __init__(self, shape, dtype, device):
        self.states = torch.empty(shape, dtype=dtype, device=device)

    def restore(self, gen):
        return None

    def write(self, start, block, tensors, gen):
        self.states[:, start:start + block.shape[1]] = block

    def result(self):
        return self.states.cpu().numpy()


class _FileSink:
    """Generated states streamed to a ``.npy`` file, resumable chunk by chunk.

    The ``.npy`` file is stored time-major, (n_steps, n_trajectories), so
    that every chunk is one contiguous write. ``PATH.state`` (safetensors:
    the sampler's state, last states and generator state as tensors, the progress
    and settings as JSON metadata) is replaced atomically after the chunk is
    flushed, so it never claims more steps than the file holds.
    """

    def __init__(self, path, shape, dtype, settings, resume):
        self.path = Path(path)
        self.state_path = _state_path(self.path)
        self.settings = settings
        self.done = 0
        if resume and self.state_path.exists():
            self.saved = _read_generation_state(self.state_path)
            if self.saved["settings"] != settings:
                raise ValueError(f"{self.path} was generated with other settings or another "
                                 "model; resume needs the same model and arguments")
            self.array = np.load(self.path, mmap_mode="r+")
        else:
            for p in (self.path, self.state_path):
                if p.exists():
                    raise FileExistsError(f"{p} exists; pass resume=True to continue that "
                                          "generation or choose another out")
            self.saved = None
            self.array = np.lib.format.open_memmap(self.path, mode="w+", dtype=dtype,
                                                   shape=shape[::-1])

    def restore(self, gen):
        """The saved tensors of an interrupted run (None: none), ``gen`` set to its state."""
        if self.saved is None:
            return None
        tensors = self.saved["tensors"]
        gen.set_state(tensors["generator"])
        self.done = self.saved["done"]
        return tensors

    def write(self, start, block, tensors, gen):
        stop = start + block.shape[1]
        self.array[start:stop] = block.T.cpu().numpy()
        self.array.flush()
        self.done = stop
        tensors = {name: v.cpu().contiguous() for name, v in tensors.items()}
        tensors["generator"] = gen.get_state()
        meta = {"done": stop, "settings": self.settings}
        meta = {"mdlstm-generation": json.dumps(meta)}
        atomic_write(self.state_path, lambda tmp: save_file(tensors, tmp, metadata=meta))

    def result(self):
        del self.array
        return np.load(self.path, mmap_mode="r").T


def _state_path(path):
    return path.with_name(path.name + ".state")


def _read_generation_state(path):
    try:
        with safe_open(path, framework="pt") as fh:
            meta = json.loads(fh.metadata()["mdlstm-generation"])
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is not a readable generation state file: {err}") from err
    return {"tensors": tensors, "done": int(meta["done"]), "settings": meta["settings"]}


def load_generated(path):
    """The completed part of a generation streamed to ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The ``out`` file of :meth:`LSTMModel.generate`.

    Returns
    -------
    numpy.ndarray, shape (n_trajectories, n_completed_steps)
        Read-only memory-mapped view; for an interrupted run, the chunks
        completed before the interruption.
    """
    path = Path(path)
    done = _read_generation_state(_state_path(path))["done"]
    return np.load(path, mmap_mode="r")[:done].T


def atomic_write(path, write):
    """Create or replace ``path`` so that it is never seen half-written.

    ``write(tmp)`` writes the content to a temporary file in the same
    directory, which is then fsynced and renamed over ``path``: a crash at
    any moment leaves either the old file or the complete new one.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class NetworkConfig:
    """Base of the network shapes a model file stores (dataclasses of int fields)."""

    @classmethod
    def from_dict(cls, data):
        """From ``dataclasses.asdict`` output; ValueError unless it is exactly that."""
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(data, dict) or set(data) != names or not all(
                isinstance(data[k], int) and not isinstance(data[k], bool) for k in names):
            raise ValueError(f"bad network configuration {data}")
        return cls(**data)


def write_model(path, architecture, config, tensors, metadata, overwrite):
    """Write a model file: `tensors` (safetensors) and a JSON header.

    ``architecture`` (``"lstm"``, ``"transformer"``), ``config`` (a dict of
    the network's shape) and ``metadata`` go into the header with the format
    version. An LSTM's header is that of format 1 (no ``architecture``),
    which older mdlstm read; another architecture's is format 2, which
    older mdlstm refuse as newer than they read. Written atomically
    (:func:`atomic_write`).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    header = {"format_version": 1, "mdlstm_version": __version__,
              "config": config, "metadata": metadata}
    if architecture != "lstm":
        header.update(format_version=FORMAT_VERSION, architecture=architecture)
    meta = {_META_KEY: json.dumps(header, allow_nan=False)}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))


def read_model(path):
    """The header (``architecture``, ``config``, ``metadata``) and tensors of a model file.

    ``architecture`` is ``"lstm"`` in files of format 1.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If it is not an mdlstm model, is truncated or corrupted, or comes
        from a newer format version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    try:
        with safe_open(path, framework="pt") as fh:
            raw = (fh.metadata() or {}).get(_META_KEY)
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable mdlstm model file "
                         f"(truncated or corrupted?): {err}") from err
    if raw is None:
        raise ValueError(f"{path} is a safetensors file but not an mdlstm model "
                         "(no mdlstm metadata)")
    try:
        header = json.loads(raw)
        version = int(header["format_version"])
        if not isinstance(header["config"], dict):
            raise ValueError(f"bad network configuration {header['config']}")
        header.setdefault("architecture", "lstm")   # the reader checks the name
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: corrupted mdlstm metadata: {err}") from err
    if version > FORMAT_VERSION:
        raise ValueError(f"{path} has model format version {version}, newer than this "
                         f"mdlstm ({__version__}) reads (up to {FORMAT_VERSION}); "
                         "upgrade mdlstm")
    header.setdefault("metadata", {})
    return header, tensors
