"""How a script reads the samples of ``--data`` itself, as ``gradcli/data`` reads them (the
same float64 numbers, the same class numbers), without importing gradcli: scikit-learn's
digits from the file its package ships, a user's CSV or TSV with the csv module, MNIST and
Fashion-MNIST from the IDX files in the folder gradcli found them in (a script downloads
nothing). A reader here is the plain version of gradcli's: gradcli checks every cell and
byte and says what is wrong, a script trusts the file gradcli has already read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from gradcli.data.dataset import CLASSIFICATION, DataSet
from gradcli.spec import RunSpec


@dataclass(frozen=True)
class Reader:
    """A reader's imports, its definitions, and the lines that call it: they set ``x, y``
    (all the samples, to split) or, for a set with its own test split that the run holds
    out, ``x_train, y_train, x_val, y_val``."""

    imports: tuple[str, ...]
    definitions: str
    lines: tuple[str, ...]
    split: bool = False  # the lines set x_train ... y_val themselves


_DIGITS = '''\
def read_digits() -> tuple[Tensor, Tensor]:
    """scikit-learn's 1,797 8×8 digits, from the file its package ships (found without
    importing scikit-learn): pixels 0–16 scaled to [0, 1], as images 1×8×8; labels 0–9."""
    sklearn = importlib.util.find_spec("sklearn")
    folder = Path(next(iter(sklearn.submodule_search_locations)))
    with gzip.open(folder / "datasets/data/digits.csv.gz", "rt") as file:
        table = np.loadtxt(file, delimiter=",", dtype=np.float64)
    x = torch.from_numpy(table[:, :64] / 16.0).reshape(-1, 1, 8, 8)
    y = torch.from_numpy(table[:, 64].astype(np.int64))
    return x, y
'''

_IDX = '''\
def read_idx(path: Path) -> np.ndarray:
    """An IDX file, raw or gzipped: a big-endian header (two zero bytes, the type 0x08 =
    unsigned byte, the number of dimensions, then each dimension in 4 bytes) and the bytes."""
    data = path.read_bytes()
    if data[:2] == b"\\x1f\\x8b":
        data = gzip.decompress(data)
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def read_images(folder: Path, split: str) -> tuple[Tensor, Tensor]:
    """One split of the set in ``folder`` ("train" or "t10k"): the images as float64
    [n, 1, rows, cols] in [0, 1] (bytes divided by 255), the labels 0–9."""

    def found(file: str) -> Path:
        return folder / file if (folder / file).is_file() else folder / f"{file}.gz"

    images = read_idx(found(f"{split}-images-idx3-ubyte"))
    labels = read_idx(found(f"{split}-labels-idx1-ubyte"))
    x = torch.from_numpy(images.astype(np.float64) / 255.0).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))
'''


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _table(spec: RunSpec, data: DataSet) -> Reader:
    """A table: every column but the target as float64 inputs; the target as the classes
    gradcli numbered (the distinct values sorted: numbers by value, words as text) or as
    float64 targets ``[n, 1]``."""
    path = spec.data
    assert path is not None and data.target is not None
    plain = path.lower().removesuffix(".gz")
    delimiter = '"\\t"' if plain.endswith(".tsv") else '","'
    opener = "gzip.open" if path.lower().endswith(".gz") else "open"
    mode = '"rt", ' if opener == "gzip.open" else ""
    words = data.task == CLASSIFICATION and not _numbers(data.labels)
    if data.task != CLASSIFICATION:
        target = [
            "    # the target: numbers to predict (regression), one column",
            "    y = torch.tensor([[float(row[column])] for row in rows], dtype=torch.float64)",
        ]
    else:
        value = "row[column].strip()" if words else "float(row[column])"
        target = [
            "    # the target: classes, numbered 0..k-1 in the order of their values sorted",
            f"    labels = [{value} for row in rows]",
            "    classes = sorted(set(labels))",
            "    y = torch.tensor([classes.index(label) for label in labels])",
        ]
    definitions = "\n".join(
        [
            "def read_table(path: str, target: str) -> tuple[Tensor, Tensor]:",
            '    """The table\'s rows (a header row first, blank rows skipped): every column but',
            '    ``target`` as float64 inputs [n, columns], and the target."""',
            f'    with {opener}(path, {mode}encoding="utf-8-sig", newline="") as file:',
            f"        table = csv.reader(file, delimiter={delimiter})",
            "        rows = [row for row in table if any(cell.strip() for cell in row)]",
            "    header, rows = [name.strip() for name in rows[0]], rows[1:]",
            "    column = header.index(target)",
            "    inputs = [[float(c) for i, c in enumerate(row) if i != column] for row in rows]",
            "    x = torch.tensor(inputs, dtype=torch.float64)",
            *target,
            "    return x, y",
        ]
    )
    call = f"x, y = read_table({_string(path)}, {_string(data.target)})"
    if len(call) > 100:
        call += "  # noqa: E501"
    imports = ("import csv", *(("import gzip",) if opener == "gzip.open" else ()))
    return Reader((*imports, "from torch import Tensor"), definitions + "\n", (call,))


def _numbers(labels: tuple[str, ...]) -> bool:
    """The classes are numbers (gradcli shows them as ``3`` or ``2.5``), not words."""
    try:
        [float(label) for label in labels]
    except ValueError:
        return False
    return True


def reader(spec: RunSpec, data: DataSet) -> Reader:
    """How the script reads ``spec.data``."""
    if spec.data == "digits":
        imports = (
            "import gzip",
            "import importlib.util",
            "from pathlib import Path",
            "import numpy as np",
            "from torch import Tensor",
        )
        return Reader(imports, _DIGITS, ("x, y = read_digits()",))
    if spec.data in ("mnist", "fashion-mnist"):
        assert data.folder is not None
        imports = ("import gzip", "from pathlib import Path", "import numpy as np")
        folder = f"folder = Path({_string(data.folder)})"
        if len(folder) > 100:
            folder += "  # noqa: E501"
        own = spec.val_fraction is None  # the t10k files held out
        lines = [
            f"# the files gradcli read (--data-dir, or {spec.data}'s folder in its cache)",
            folder,
        ]
        if own:
            lines += [
                'x_train, y_train = read_images(folder, "train")',
                'x_val, y_val = read_images(folder, "t10k")  # its own test split',
            ]
        else:
            lines.append('x, y = read_images(folder, "train")  # (the t10k files left out)')
        return Reader((*imports, "from torch import Tensor"), _IDX, tuple(lines), split=own)
    return _table(spec, data)
