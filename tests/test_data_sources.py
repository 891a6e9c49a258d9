"""The data sources of ``--data``: digits, a user's CSV, MNIST's IDX files (made here, small,
and served from a loopback HTTP server: nothing here reaches the internet)."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import http.server
import io
import json
import os
import socket
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcli import data
from gradcli.data import Request, idx, sources, split, table
from gradcli.data.dataset import CLASSIFICATION, REGRESSION
from gradcli.errors import GradcliError
from tests.helpers import bits


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    """Every download goes to a closed loopback port unless a test serves one, the cache is
    in tmp_path, and no URL but a loopback one is ever opened."""
    dead = f"http://127.0.0.1:{_closed_port()}/"
    monkeypatch.setenv("GRADCLI_MNIST_URL", dead)
    monkeypatch.setenv("GRADCLI_FASHION_MNIST_URL", dead)
    monkeypatch.delenv("GRADCLI_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    opened = urllib.request.urlopen

    def loopback_only(url, *args, **kwargs):
        assert str(url).startswith("http://127.0.0.1:"), f"a test tried to open {url}"
        return opened(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", loopback_only)
    data.forget()
    yield
    data.forget()


def _error(request: Request) -> str:
    with pytest.raises(GradcliError) as caught:
        data.load(request)
    message = str(caught.value)
    assert "\n" not in message and message
    return message


# --- digits -------------------------------------------------------------------------------


def test_digits_is_1797_images_split_1438_and_359():
    ds = data.load(Request("digits"))
    assert ds.x_train.shape == (1438, 1, 8, 8) and ds.x_val.shape == (359, 1, 8, 8)
    assert ds.x_train.dtype == torch.float64 and ds.y_train.dtype == torch.int64
    assert set(torch.cat([ds.y_train, ds.y_val]).tolist()) == set(range(10))
    assert ds.x_train.min() >= 0 and ds.x_train.max() <= 1
    assert (ds.task, ds.outputs, ds.labels) == (CLASSIFICATION, 10, tuple("0123456789"))
    assert ds.describe().startswith("digits: 1438 training / 359 held-out samples")


# --- a user's table ---------------------------------------------------------------------


def _write(path: Path, text: str) -> str:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8", newline="") as file:
        file.write(text)
    return str(path)


def _table(path: Path, header: list[str], rows: list[list[object]], delimiter: str = ",") -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[repr(v) if isinstance(v, float) else v for v in r] for r in rows])
    return _write(path, out.getvalue())


def _linear(n: int = 30) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2)) * [3.0, 0.5] + [10.0, -2.0]
    return x, 2 * x[:, 0] - x[:, 1] + 0.25


def test_a_regression_table_reads_back_bit_for_bit(tmp_path):
    x, y = _linear()
    path = _table(tmp_path / "t.csv", ["a", "b", "price"], np.c_[x, y].tolist())
    raw = sources.read(Request(path, target="price"))
    assert torch.equal(bits(raw.x), bits(torch.from_numpy(x)))
    assert torch.equal(bits(raw.y), bits(torch.from_numpy(y).reshape(-1, 1)))
    assert (raw.task, raw.outputs, raw.features, raw.target) == (REGRESSION, 1, ("a", "b"), "price")
    assert raw.scale and raw.task_reason == "inferred: not every value is an integer"
    ds = data.load(Request(path, target="price"))
    assert ds.scaled and ds.y_train.shape == (24, 1) and ds.y_val.shape == (6, 1)
    line = ds.describe()
    assert "1 target (regression; inferred: not every value is an integer)" in line
    assert "target column 'price'" in line and "standardised" in line


@pytest.mark.parametrize("name", ["t.tsv", "t.csv.gz", "t.tsv.gz", "T.CSV"])
def test_tsv_and_gzip_read_as_the_csv_does(tmp_path, name):
    x, y = _linear()
    rows = np.c_[x, y].tolist()
    plain = sources.read(Request(_table(tmp_path / "p.csv", ["a", "b", "y"], rows), target="y"))
    tab = "\t" if ".tsv" in name else ","
    other = sources.read(Request(_table(tmp_path / name, ["a", "b", "y"], rows, tab), target="y"))
    assert torch.equal(plain.x, other.x) and torch.equal(plain.y, other.y)


def test_an_integer_target_of_few_values_is_classification_labels_sorted(tmp_path):
    ys = [10, 3, -1, 3, 10, -1, 3, 10.0]
    path = _table(tmp_path / "t.csv", ["x", "y"], [[i, v] for i, v in enumerate(ys)])
    raw = sources.read(Request(path, target="y"))
    assert (raw.task, raw.outputs, raw.labels) == (CLASSIFICATION, 3, ("-1", "3", "10"))
    assert raw.y.dtype == torch.int64 and raw.y.tolist() == [2, 1, 0, 1, 2, 0, 1, 2]
    assert raw.task_reason == "inferred: 3 distinct integer values"
    line = data.load(Request(path, target="y")).describe()
    assert "3 classes (-1, 3, 10; inferred: 3 distinct integer values)" in line


def test_a_target_of_words_is_classification_by_name(tmp_path):
    names = ["versicolor", "setosa", "virginica", "setosa"]
    path = _table(tmp_path / "t.csv", ["x", "species"], [[i, n] for i, n in enumerate(names)])
    raw = sources.read(Request(path, target="species"))
    assert raw.labels == ("setosa", "versicolor", "virginica") and raw.y.tolist() == [1, 0, 2, 0]
    assert raw.task_reason == "inferred: 3 distinct words"


def test_many_integer_values_are_regression_unless_classification_is_asked_for(tmp_path):
    path = _table(tmp_path / "t.csv", ["x", "y"], [[i, i * 2] for i in range(25)])
    raw = sources.read(Request(path, target="y"))
    assert raw.task == REGRESSION and "25 distinct integer values, more than 20" in raw.task_reason
    asked = sources.read(Request(path, target="y", task=CLASSIFICATION))
    assert (asked.task, asked.outputs, asked.task_reason) == (CLASSIFICATION, 25, "asked for")
    assert asked.y.tolist() == list(range(25))
    few = _table(tmp_path / "f.csv", ["x", "y"], [[i, i % 2] for i in range(6)])
    as_numbers = sources.read(Request(few, target="y", task=REGRESSION))
    assert as_numbers.task == REGRESSION and as_numbers.y.dtype == torch.float64


def test_the_target_may_be_any_column_and_blank_lines_are_skipped(tmp_path):
    path = _write(tmp_path / "t.csv", "y, a ,b\r\n1,2,3\r\n\r\n0,5,6\r\n")
    raw = sources.read(Request(path, target="y"))
    assert raw.features == ("a", "b") and raw.x.tolist() == [[2, 3], [5, 6]]
    assert raw.y.tolist() == [1, 0]


def test_standardisation_uses_the_training_rows_only(tmp_path):
    x, y = _linear(40)
    x[:, 1] = np.arange(40.0) ** 3  # skewed: no subset has the whole column's statistics
    path = _table(tmp_path / "t.csv", ["a", "b", "y"], np.c_[x, y].tolist())
    request = Request(path, target="y", val_fraction=0.25, data_seed=3)
    raw = sources.read(request)
    plain = split.prepare(dataclasses.replace(raw, scale=False), request)  # the same rows
    scaled = data.load(request)
    mean, std = plain.x_train.mean(dim=0), plain.x_train.std(dim=0)
    assert torch.equal(scaled.x_train, (plain.x_train - mean) / std)
    assert torch.equal(scaled.x_val, (plain.x_val - mean) / std)
    every = (plain.x_val - raw.x.mean(dim=0)) / raw.x.std(dim=0)
    assert not torch.allclose(scaled.x_val, every, rtol=1e-3)  # all rows' would differ
    assert torch.allclose(
        scaled.x_train.mean(dim=0), torch.zeros(2, dtype=torch.float64), atol=1e-12
    )
    assert torch.equal(scaled.y_train, plain.y_train)  # targets are never scaled


_finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 4).flatmap(
        lambda k: st.lists(st.lists(_finite, min_size=k, max_size=k), min_size=2, max_size=12)
    ),
    st.data(),
)
def test_any_finite_numbers_read_back_exactly_and_classes_keep_their_order(rows, draw):
    targets = draw.draw(st.lists(st.integers(-50, 50), min_size=len(rows), max_size=len(rows)))
    if len(set(targets)) < 2:
        targets[0] = targets[1] + 1
    header = [f"c{i}" for i in range(len(rows[0]))] + ["y"]
    with tempfile.TemporaryDirectory() as folder:
        path = _table(
            Path(folder) / "t.csv", header, [[*r, t] for r, t in zip(rows, targets, strict=True)]
        )
        raw = table.read(path, "y", CLASSIFICATION)
    assert torch.equal(bits(raw.x), bits(torch.tensor(rows, dtype=torch.float64)))
    assert [int(raw.labels[k]) for k in raw.y.tolist()] == targets
    assert list(raw.labels) == [str(v) for v in sorted(set(targets))]


# every way a table can be wrong: (file name, its text or None, --target, --task, words)
BAD_TABLES = [
    ("none.csv", None, "y", None, ["--data ", "none.csv: no such file"]),
    ("empty.csv", "", "y", None, ["empty.csv: empty file"]),
    ("blank.csv", "\n\n", "y", None, ["empty file"]),
    ("header.csv", "a,y\n", "y", None, ["header.csv: a header but no rows"]),
    ("t.csv", "a,b,y\n1,2,3\n", None, None, ["needs --target COLUMN; its columns: a, b, y"]),
    ("t.csv", "a,price\n1,2\n", "prize", None, ["--target prize", "did you mean 'price'"]),
    ("t.csv", "a,Y\n1,2\n", "y", None, ["did you mean 'Y'", "its columns: a, Y"]),
    ("t.csv", "a,y\n1,2\n3,abc\n4,1\n", "y", None, ["line 3, column 'y': 'abc' is not a number"]),
    ("t.csv", "a,b,y\n1,2,3\n1,x1,0\n", "y", None, ["t.csv: line 3, column 'b': 'x1' is not"]),
    ("t.csv", "a,b,y\n1,2,3\n1,,0\n", "y", None, ["line 3, column 'b': an empty cell"]),
    ("t.csv", "a,b,y\n1,2,3\n1,2\n", "y", None, ["line 3 has 2 cells, the header has 3"]),
    ("t.csv", "a,b,y\n1,2,3\n1,2,3,4\n", "y", None, ["line 3 has 4 cells"]),
    ("t.csv", "a,b,y\n1,2,3\n\n\n1,nan,0\n", "y", None, ["line 5, column 'b': 'nan' is not a f"]),
    ("t.csv", "a,y\n1,2\n-inf,0\n", "y", None, ["line 3, column 'a': '-inf' is not a finite"]),
    ("t.csv", "a,y\n1,2\n1e999,0\n", "y", None, ["'1e999' is not a finite number"]),
    ("t.csv", "a,y\n1,2\n2,inf\n", "y", None, ["line 3, column 'y': 'inf' is not a finite"]),
    ("t.csv", 'a,y\n"1\n",2\n2,x\n', "y", None, ["line 4, column 'y'"]),  # a cell of 2 lines
    ("t.csv", "a,b,a,y\n1,2,3,4\n", "y", None, ["two columns are named 'a' (columns 1 and 3)"]),
    ("t.csv", "a,,y\n1,2,3\n", "y", None, ["line 1: column 2 has no name"]),
    ("t.csv", "a,y\n1,5\n2,5.0\n", "y", None, ["column 'y' holds one value (5) in every row"]),
    ("t.csv", "a,y\n1,b\n2,b\n", "y", None, ["holds one value (b) in every row"]),
    ("t.csv", "a,y\n1,0.5\n2,1\n", "y", CLASSIFICATION, ["line 2, column 'y': '0.5' is not an in"]),
    ("t.csv", "a,y\n1,cat\n2,dog\n", "y", REGRESSION, ["line 2, column 'y': 'cat' is not a num"]),
    ("t.csv", "a,y\n1,cat\n2,\n", "y", None, ["line 3, column 'y': an empty cell"]),
    ("t.csv", "y\n1\n2\n", "y", None, ["only the target column 'y'"]),
    ("t.csv", "a,y\n1,2\n", "y", "clustering", ["--task clustering: choose one of"]),
    ("t.csv.gz", "a,y\n1,2\n", "y", None, ["t.csv.gz: not a readable gzip file"]),  # plain text
]


@pytest.mark.parametrize(("name", "text", "target", "task", "words"), BAD_TABLES)
def test_a_bad_table_is_one_line_naming_what_is_wrong(tmp_path, name, text, target, task, words):
    path = tmp_path / name
    if text is not None:
        path.write_text(text, encoding="utf-8")  # never gzipped: the .gz case is plain text
    message = _error(Request(str(path), target=target, task=task))
    for word in words:
        assert word in message


def test_a_table_not_utf8_or_a_folder_is_one_line(tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("a,y\n1,caf\xe9\n".encode("latin-1"))
    assert "latin.csv: not UTF-8 text" in _error(Request(str(latin), target="y"))
    (tmp_path / "dir.csv").mkdir()
    assert "dir.csv: is a folder" in _error(Request(str(tmp_path / "dir.csv"), target="y"))


def test_an_unreadable_table_is_one_line(tmp_path):
    locked = Path(_write(tmp_path / "locked.csv", "a,y\n1,2\n"))
    locked.chmod(0)
    if os.access(locked, os.R_OK):
        pytest.skip("running as root: every file is readable")
    assert "locked.csv: not readable (permission denied)" in _error(Request(str(locked), "y"))


def test_only_a_table_takes_target():
    assert "--target y: only a table" in _error(Request("digits", target="y"))


# --- MNIST's IDX files --------------------------------------------------------------------


def _idx(array: np.ndarray) -> bytes:
    magic = 0x800 | array.ndim
    dims = b"".join(d.to_bytes(4, "big") for d in array.shape)
    return magic.to_bytes(4, "big") + dims + array.astype(np.uint8).tobytes()


def _mnist_files(seed: int = 0, train: int = 20, test: int = 10) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(train + test, 28, 28), dtype=np.uint8)
    x[0, 0, 0], x[0, 0, 1] = 0, 255  # both ends of the scale
    y = rng.integers(0, 10, size=train + test, dtype=np.uint8)
    return dict(zip(idx.FILES, [x[:train], y[:train], x[train:], y[train:]], strict=True))


def _put(folder: Path, arrays: dict[str, np.ndarray], gz: bool | list[bool]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    zipped = gz if isinstance(gz, list) else [gz] * len(arrays)
    for (file, array), z in zip(arrays.items(), zipped, strict=True):
        raw = _idx(array)
        (folder / (file + ".gz" * z)).write_bytes(gzip.compress(raw) if z else raw)
    return folder


def _same_as(ds: data.DataSet, arrays: dict[str, np.ndarray]) -> None:
    x, y, x_test, y_test = (torch.from_numpy(a) for a in arrays.values())
    assert torch.equal(bits(ds.x_train), bits(x.double().div(255.0).unsqueeze(1)))
    assert torch.equal(bits(ds.x_val), bits(x_test.double().div(255.0).unsqueeze(1)))
    assert torch.equal(ds.y_train, y.long()) and torch.equal(ds.y_val, y_test.long())
    assert ds.x_train.dtype == torch.float64 and ds.y_train.dtype == torch.int64
    assert ds.x_train.min() == 0 and ds.x_train.max() == 1


@pytest.mark.parametrize("gz", [False, True, [True, False, False, True]])
def test_idx_files_raw_or_gzip_read_back_bit_for_bit(tmp_path, gz):
    arrays = _mnist_files()
    folder = _put(tmp_path / "mine", arrays, gz)
    ds = data.load(Request("mnist", data_dir=str(folder)))
    _same_as(ds, arrays)
    assert ds.shape == (1, 28, 28) and ds.folder == str(folder)
    assert ds.held_out == "its own test split, 10 samples" and ds.labels == tuple("0123456789")
    assert ds.describe().endswith(f"10 classes, files in {folder}")
    drawn = data.load(Request("mnist", data_dir=str(folder), val_fraction=0.2))
    assert (len(drawn.x_train), len(drawn.x_val)) == (16, 4)  # from the training files


def test_fashion_mnist_names_its_classes(tmp_path):
    folder = _put(tmp_path / "f", _mnist_files(), True)
    ds = data.load(Request("fashion-mnist", data_dir=str(folder)))
    assert ds.labels[0] == "T-shirt/top" and ds.labels[9] == "Ankle boot"


class _Served:
    """A loopback HTTP server over a folder, counting the paths asked for."""

    def __init__(self, folder: Path) -> None:
        asked: list[str] = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder), **kwargs)

            def do_GET(self):
                asked.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.asked = asked
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sets/"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[_Served, dict[str, np.ndarray]]]:
    arrays = _mnist_files(seed=1)
    server = _Served(tmp_path / "www")
    _put(tmp_path / "www" / "sets", arrays, True)
    yield server, arrays
    server.server.shutdown()
    server.server.server_close()


def test_missing_files_are_downloaded_once_into_the_cache(served, monkeypatch, tmp_path, capsys):
    server, arrays = served
    monkeypatch.setenv("GRADCLI_MNIST_URL", server.url)
    cache = tmp_path / "cache" / "gradcli" / "mnist"
    ds = data.load(Request("mnist"))
    _same_as(ds, arrays)
    assert sorted(server.asked) == sorted(f"/sets/{f}.gz" for f in idx.FILES)
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{f}.gz" for f in idx.FILES)
    err = capsys.readouterr()
    assert err.out == "" and err.err.count("\n") == 4
    assert f"downloading mnist's train-images-idx3-ubyte.gz from {server.url}" in err.err
    assert f"into {cache}" in err.err and ds.folder == str(cache)
    data.forget()
    _same_as(data.load(Request("mnist")), arrays)
    assert len(server.asked) == 4 and capsys.readouterr().err == ""  # not again


def test_only_the_missing_files_are_downloaded_into_gradcli_data(served, monkeypatch, tmp_path):
    server, arrays = served
    monkeypatch.setenv("GRADCLI_FASHION_MNIST_URL", server.url)
    monkeypatch.setenv("GRADCLI_DATA", str(tmp_path / "shared"))
    folder = tmp_path / "shared" / "fashion-mnist"
    _put(folder, {f: arrays[f] for f in idx.FILES[:2]}, False)
    said: list[str] = []
    raw = idx.read("fashion-mnist", None, said.append)
    assert sorted(server.asked) == sorted(f"/sets/{f}.gz" for f in idx.FILES[2:])
    assert len(said) == 2 and raw.folder == str(folder)
    assert torch.equal(raw.y_test, torch.from_numpy(arrays[idx.FILES[3]]).long())


def test_the_folder_is_data_dir_then_gradcli_data_then_the_cache(monkeypatch, tmp_path):
    assert idx.folder_of("mnist", str(tmp_path / "d")) == tmp_path / "d"
    assert idx.folder_of("mnist", None) == tmp_path / "cache" / "gradcli" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert idx.folder_of("mnist", None) == tmp_path / "home" / ".cache" / "gradcli" / "mnist"
    monkeypatch.setenv("GRADCLI_DATA", str(tmp_path / "g"))
    assert idx.folder_of("fashion-mnist", None) == tmp_path / "g" / "fashion-mnist"
    assert idx.folder_of("mnist", "~/m") == tmp_path / "home" / "m"


def _no_files_left(folder: Path) -> None:
    assert not folder.exists()  # no half file, no temp file, not even the folder made for them


def test_offline_is_one_line_saying_what_to_put_where(tmp_path):
    message = _error(Request("mnist"))
    folder = tmp_path / "cache" / "gradcli" / "mnist"
    assert message.startswith("--data mnist: needs train-images-idx3-ubyte[.gz], ")
    assert "t10k-labels-idx1-ubyte[.gz]" in message and "Connection refused" in message
    assert f"put them in {folder}, or name a folder holding them with --data-dir" in message
    _no_files_left(folder)


def test_an_http_error_is_one_line(served, monkeypatch, tmp_path):
    server, _ = served
    monkeypatch.setenv("GRADCLI_MNIST_URL", server.url + "nowhere/")
    message = _error(Request("mnist", data_dir=str(tmp_path / "d")))
    assert "HTTP 404" in message and f"put them in {tmp_path / 'd'}" in message
    _no_files_left(tmp_path / "d")


def test_a_download_that_stalls_times_out_in_one_line(monkeypatch, tmp_path):
    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        monkeypatch.setenv("GRADCLI_MNIST_URL", f"http://127.0.0.1:{silent.getsockname()[1]}/")
        monkeypatch.setattr(idx, "TIMEOUT_S", 0.2)
        message = _error(Request("mnist"))
    assert "timed out" in message and "--data-dir" in message
    _no_files_left(tmp_path / "cache" / "gradcli" / "mnist")


@pytest.mark.parametrize(
    ("served_bytes", "words"),
    [
        (b"<html>not here</html>", "not an IDX file of 0x00000803 (its magic: 0x3c68746d)"),
        (gzip.compress(b"\x00\x00\x08\x03")[:-3], "not readable"),  # cut short: bad gzip
        (gzip.compress(_idx(np.zeros((5, 28, 28)))[:-1]), "a truncated or corrupt file"),
        (gzip.compress(_idx(np.zeros(5))), "not an IDX file of 0x00000803"),  # labels
    ],
    ids=["html", "bad-gzip", "truncated", "labels-for-images"],
)
def test_a_corrupt_download_is_named_and_not_kept(
    served, monkeypatch, tmp_path, served_bytes, words
):
    server, _ = served
    (tmp_path / "www" / "sets" / "train-images-idx3-ubyte.gz").write_bytes(served_bytes)
    monkeypatch.setenv("GRADCLI_MNIST_URL", server.url)
    message = _error(Request("mnist"))
    assert message.startswith(f"train-images-idx3-ubyte.gz downloaded from {server.url}")
    assert words in message
    _no_files_left(tmp_path / "cache" / "gradcli" / "mnist")


def _spoil(folder: Path, file: str, content: bytes) -> str:
    for old in folder.glob(file + "*"):
        old.unlink()
    (folder / file).write_bytes(content)
    return str(folder / file)


@pytest.mark.parametrize(
    ("file", "content", "words"),
    [
        (idx.FILES[0], b"\x00\x00\x08\x01" + bytes(4), "not an IDX file of 0x00000803"),
        (idx.FILES[1], _idx(np.zeros((20, 28, 28))), "(its magic: 0x00000803)"),
        (idx.FILES[2], b"\x00\x00", "(its magic: none)"),
        (idx.FILES[2], _idx(np.zeros((10, 28, 28)))[:-5], "header (10×28×28) says 7856"),
        (idx.FILES[3], _idx(np.zeros(9)), "9 labels for the 10 images of"),
        (idx.FILES[1], _idx(np.full(20, 10)), "a label 10, outside 0–9"),
        (idx.FILES[2], _idx(np.zeros((10, 8, 8))), "images of 8×8 pixels"),
        (idx.FILES[0] + ".gz", b"\x1f\x8b\x08\x00garbage", "not readable"),
    ],
)
def test_a_corrupt_file_is_one_line_naming_it(tmp_path, file, content, words):
    folder = _put(tmp_path / "d", _mnist_files(), True)
    path = _spoil(folder, file, content)
    message = _error(Request("mnist", data_dir=str(folder)))
    assert message.startswith(f"{path}: ") and words in message


def test_gradcli_trains_a_cnn_on_mnist_files_in_data_dir(tmp_path, invoke):
    folder = _put(tmp_path / "mnist", _mnist_files(train=40, test=10), gz=True)
    args = [
        "--data",
        "mnist",
        "--data-dir",
        str(folder),
        "-m",
        "cnn",
        "-o",
        "adam",
        "--batch-size",
        "16",
        "--epochs",
        "2",
        "-f",
        "jsonl",
    ]
    optim, manual = invoke("optim", *args), invoke("manual", *args)
    assert optim.exit_code == 0, optim.stderr
    assert optim.stdout == manual.stdout
    objects = [json.loads(line) for line in optim.stdout.splitlines()]
    ends = [o for o in objects if "epoch_end" in o]
    assert [(o["epoch_end"], o["step"]) for o in ends] == [(1, 3), (2, 6)]  # 40 = 16+16+8
    assert objects[0]["params"]["output.weight"]["shape"] == [10, 32 * 7 * 7]
    assert "held out: loss" in optim.stderr  # the t10k files


def test_gradcli_offline_without_the_files_is_one_line(invoke, tmp_path):
    result = invoke("optim", "--data", "mnist", "--data-dir", str(tmp_path / "none"))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 2  # the download tried, then the error
    error = result.stderr.splitlines()[-1]
    assert error.startswith("gradcli: error: --data mnist: needs train-images-idx3-ubyte")
    assert f"put them in {tmp_path / 'none'}" in error
