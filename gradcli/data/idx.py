"""MNIST and Fashion-MNIST from their four IDX files, downloaded once into a folder.

The files (each raw or gzipped, ``.gz``): ``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``. An IDX
file is a big-endian header (magic ``0x00000803`` for images, ``0x00000801`` for labels: two
zero bytes, the type 0x08 = unsigned byte, the number of dimensions; then each dimension as
a 4-byte integer) and the bytes. Images become float64 ``[n, 1, rows, cols]`` in [0, 1],
labels int64; the t10k files are the set's own test split.

The folder: ``--data-dir`` if given, else ``$GRADCLI_DATA/<name>``, else
``$XDG_CACHE_HOME/gradcli/<name>`` (``~/.cache/gradcli/<name>``); ``<name>`` keeps the two
sets' same-named files apart. Files missing from the folder are downloaded there once, from
``URLS[name]`` (or the URL in the environment variable ``URL_VARIABLES[name]``), each to a
temporary file that is checked and then renamed, so no half file is left under a real name.
Offline, the error says which files to put where.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from gradcli.data.dataset import CLASSIFICATION, Raw
from gradcli.errors import GradcliError

FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
URLS = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}
URL_VARIABLES = {"mnist": "GRADCLI_MNIST_URL", "fashion-mnist": "GRADCLI_FASHION_MNIST_URL"}
LABELS = {
    "mnist": tuple(map(str, range(10))),
    "fashion-mnist": (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
}  # fmt: skip
TIMEOUT_S = 60.0
IMAGES, LABELS_MAGIC = 0x00000803, 0x00000801


def read(name: str, data_dir: str | None, say: Callable[[str], None] | None = None) -> Raw:
    """The set ``name`` from its folder, downloading what is missing there first (telling
    ``say``, stderr by default)."""
    folder = folder_of(name, data_dir)
    paths = {file: _found(folder, file) for file in FILES}
    for file in [file for file, path in paths.items() if path is None]:
        paths[file] = _download(name, folder, file, say or _stderr)
    x, y = _pair(paths[FILES[0]], paths[FILES[1]])
    x_test, y_test = _pair(paths[FILES[2]], paths[FILES[3]])
    if x.shape[1:] != x_test.shape[1:]:
        raise GradcliError(
            f"{paths[FILES[2]]}: images of {'×'.join(map(str, x_test.shape[2:]))} pixels, "
            f"the training images have {'×'.join(map(str, x.shape[2:]))}"
        )
    return Raw(
        name, x, y, CLASSIFICATION, 10, x_test, y_test, labels=LABELS[name], folder=str(folder)
    )


def folder_of(name: str, data_dir: str | None) -> Path:
    """Where ``name``'s files are looked for (and downloaded to)."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get("GRADCLI_DATA"):
        return Path(os.environ["GRADCLI_DATA"]).expanduser() / name
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "gradcli" / name


def _found(folder: Path, file: str) -> Path | None:
    for path in (folder / file, folder / f"{file}.gz"):
        if path.is_file():
            return path
    return None


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _put_them(name: str, folder: Path, files: list[str], why: str) -> str:
    listed = ", ".join(f"{f}[.gz]" for f in files)
    return (
        f"--data {name}: needs {listed} ({why}); put them in {folder}, or name a folder "
        "holding them with --data-dir"
    )


def _download(name: str, folder: Path, file: str, say: Callable[[str], None]) -> Path:
    """``file``'s ``.gz`` fetched into ``folder`` through a checked temporary file."""
    base = os.environ.get(URL_VARIABLES[name]) or URLS[name]
    url = f"{base.rstrip('/')}/{file}.gz"
    target = folder / f"{file}.gz"
    say(f"gradcli: downloading {name}'s {file}.gz from {url} into {folder}")
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(prefix=f".{file}.", suffix=".part", dir=folder)
    except OSError as e:
        raise GradcliError(
            _put_them(name, folder, list(FILES), f"cannot write there: {e.strerror or e}")
        ) from None
    try:
        with (
            os.fdopen(handle, "wb") as out,
            urllib.request.urlopen(url, timeout=TIMEOUT_S) as response,
        ):
            while chunk := response.read(1 << 20):
                out.write(chunk)
        kind = IMAGES if "images" in file else LABELS_MAGIC
        _parse(Path(temp), kind, shown=f"{file}.gz downloaded from {url}")  # whole and sound
        os.replace(temp, target)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
        if isinstance(e, urllib.error.HTTPError):
            reason: object = f"HTTP {e.code} {e.reason}"
        else:
            reason = getattr(e, "reason", None) or e
        missing = [f for f in FILES if _found(folder, f) is None]
        raise GradcliError(
            _put_them(name, folder, missing, f"downloading {url} failed: {reason}")
        ) from None
    finally:
        Path(temp).unlink(missing_ok=True)
        if created and not target.exists():
            with contextlib.suppress(OSError):
                folder.rmdir()  # made for this download, and left empty
    return target


def _pair(images: Path, labels: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """One split: images float64 ``[n, 1, rows, cols]`` in [0, 1] and int64 labels."""
    x = _parse(images, kind=IMAGES)
    y = _parse(labels, kind=LABELS_MAGIC)
    if len(x) != len(y):
        raise GradcliError(f"{labels}: {len(y)} labels for the {len(x)} images of {images}")
    if y.size and y.max() > 9:
        raise GradcliError(f"{labels}: a label {int(y.max())}, outside 0–9: a corrupt file")
    pixels = torch.from_numpy(x.astype(np.float64) / 255.0).unsqueeze(1)
    return pixels, torch.from_numpy(y.astype(np.int64))


def _parse(path: Path, kind: int | None = None, shown: str | None = None) -> np.ndarray:
    """The array in an IDX file (gzipped or not), or a one-line error naming it."""
    shown = shown or str(path)
    try:
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise GradcliError(f"{shown}: not readable ({e})") from None
    magic = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    if magic not in (IMAGES, LABELS_MAGIC) or (kind is not None and magic != kind):
        expected = "0x00000803 or 0x00000801" if kind is None else f"0x{kind:08x}"
        found = "none" if magic is None else f"0x{magic:08x}"
        raise GradcliError(f"{shown}: not an IDX file of {expected} (its magic: {found})")
    rank = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank)]
    start = 4 + 4 * rank
    if len(data) != start + int(np.prod(dims, dtype=np.int64)):
        raise GradcliError(
            f"{shown}: {len(data)} bytes, its header ({'×'.join(map(str, dims))}) says "
            f"{start + int(np.prod(dims, dtype=np.int64))}: a truncated or corrupt file"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=start).reshape(dims)
