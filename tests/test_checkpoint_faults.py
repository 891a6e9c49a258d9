"""Checkpoints against what is not a file, a failing disk, foreign contents and zip bombs
(issue 18): each is one line on stderr and exit status 2, never a traceback, and nothing that
was there before is harmed."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import socket
import stat
import threading
import zipfile
from pathlib import Path

import pytest
import torch
from helpers import jsonl
from lanes import fast_cases

from gradcli.train import checkpoint

RUN = ("-m", "seed", "-o", "adam", "--steps", "1", "-q", "-f", "jsonl")


def one_line_error(result, *fragments: str) -> None:
    """Refused before the run: exit status 2, nothing on stdout, one line on stderr."""
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gradcli: error: --"), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def listing(folder: Path) -> dict[str, int]:
    """Every name in ``folder`` and what it is (file, folder, link, device, ...)."""
    return {p.name: stat.S_IFMT(os.lstat(p).st_mode) for p in folder.iterdir()}


@pytest.fixture
def good(invoke, tmp_path) -> Path:
    """A real checkpoint, with optimizer state: the starting point of every foreign one."""
    path = tmp_path / "good.pt"
    result = invoke("optim", *RUN, "--save", str(path))
    assert result.exit_code == 0, result.stderr
    return path


# --- finding 1: --save and --resume take regular files only ------------------------------------


def char_device(path: Path, minor: int = 3) -> None:
    try:  # 1,3 is /dev/null; 1,5 /dev/zero
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, minor))
    except OSError as e:
        pytest.skip(f"cannot make a device node here: {e}")


def unix_socket(path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))


def link(path: Path, to: str) -> None:
    path.symlink_to(to)


SAVE_REFUSED = [
    ("char-device", lambda d: char_device(d / "x"), "x", "x: is a character device, not a regular"),
    ("fifo", lambda d: os.mkfifo(d / "x"), "x", "x: is a fifo, not a regular file"),
    ("socket", lambda d: unix_socket(d / "x"), "x", "x: is a socket, not a regular file"),
    ("folder", lambda d: (d / "x").mkdir(), "x", "x: is a folder, not a regular file"),
    (
        "link-to-device",
        lambda d: (char_device(d / "dev"), link(d / "x", "dev")),
        "x",
        "x (a symbolic link to {d}/dev): is a character device",
    ),
    (
        "link-to-fifo",
        lambda d: (os.mkfifo(d / "f"), link(d / "x", str(d / "f"))),
        "x",
        "x (a symbolic link to {d}/f): is a fifo",
    ),
    (
        "link-to-folder",
        lambda d: ((d / "sub").mkdir(), link(d / "x", "sub")),
        "x",
        "x (a symbolic link to {d}/sub): is a folder",
    ),
    ("slash-new", lambda d: None, "new/", "new/: names a folder, not a file"),
    ("slash-folder", lambda d: (d / "sub").mkdir(), "sub/", "sub/: names a folder, not a file"),
    ("dot", lambda d: None, "new/.", "new/.: names a folder, not a file"),
    ("dot-dot", lambda d: (d / "sub").mkdir(), "sub/..", "sub/..: names a folder, not a file"),
    (
        "link-to-slash",
        lambda d: link(d / "x", "new/"),
        "x",
        "x (a symbolic link to {d}/new/): names a folder",
    ),
    (
        "link-loop",
        lambda d: (link(d / "x", "y"), link(d / "y", "x")),
        "x",
        "x: too many levels of symbolic links",
    ),
    ("no-folder", lambda d: None, "no/a.pt", "a.pt: no such folder: {d}/no"),
]


@pytest.mark.parametrize(
    ("make", "name", "fragment"),
    fast_cases([case[1:] for case in SAVE_REFUSED], 2, several=True),
    ids=[c[0] for c in SAVE_REFUSED],
)
def test_save_refuses_what_is_not_a_regular_file_before_training(
    invoke, tmp_path, make, name, fragment
):
    make(tmp_path)
    before = listing(tmp_path)
    result = invoke("optim", *RUN, "--save", f"{tmp_path}/{name}")
    one_line_error(result, f"--save {tmp_path}/", fragment.format(d=tmp_path))
    assert listing(tmp_path) == before  # nothing replaced, nothing created


@pytest.mark.parametrize(
    ("links", "final"),
    fast_cases(
        [
            ({"x": "a.pt"}, "a.pt"),  # to a regular file
            ({"x": "sub/a.pt"}, "sub/a.pt"),  # dangling, into a folder that exists
            ({"x": "y", "y": "sub/a.pt"}, "sub/a.pt"),  # a chain
            ({"x": "{d}/sub/a.pt"}, "sub/a.pt"),  # absolute
            ({"x": "sub/y", "sub/y": "a.pt"}, "sub/a.pt"),  # relative to the link's own folder
        ],
        several=True,
    ),
    ids=["to-file", "dangling", "chain", "absolute", "relative-to-link"],
)
def test_save_follows_symlinks_to_a_regular_file(invoke, tmp_path, links, final):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.pt").write_text("old")
    for name, to in links.items():
        (tmp_path / name).symlink_to(to.format(d=tmp_path))
    result = invoke("optim", *RUN, "--save", str(tmp_path / "x"))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert [r["step"] for r in jsonl(result.stdout)] == [0, 1]
    for name in links:  # the links stay links
        assert (tmp_path / name).is_symlink()
    assert torch.load(tmp_path / final, weights_only=True)["step"] == 1
    if final != "a.pt":
        assert (tmp_path / "a.pt").read_text() == "old"
    hidden = [p for p in [*tmp_path.iterdir(), *(tmp_path / "sub").iterdir()] if p.name[0] == "."]
    assert hidden == []  # no temporary file left


@contextlib.contextmanager
def unblocked(folder: Path):
    """Should anything open a fifo in ``folder`` for reading and wait for a writer, be that
    writer (and close at once): a regression then fails the test instead of hanging it."""
    done = threading.Event()
    fifos = [p for p in folder.iterdir() if stat.S_ISFIFO(os.lstat(p).st_mode)]

    def writer() -> None:
        while not done.wait(0.05):
            for fifo in fifos:
                with contextlib.suppress(OSError):  # ENXIO: nobody is reading
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


RESUME_REFUSED = [
    ("fifo", lambda d: os.mkfifo(d / "x"), "x: is a fifo, not a regular file"),
    ("zero-device", lambda d: char_device(d / "x", 5), "x: is a character device, not a regular"),
    ("socket", lambda d: unix_socket(d / "x"), "x: is a socket, not a regular file"),
    ("folder", lambda d: (d / "x").mkdir(), "x: is a folder, not a regular file"),
    ("link-to-fifo", lambda d: (os.mkfifo(d / "f"), link(d / "x", "f")), "x: is a fifo"),
]


@pytest.mark.parametrize(
    ("make", "fragment"),
    fast_cases([case[1:] for case in RESUME_REFUSED], 2, several=True),
    ids=[c[0] for c in RESUME_REFUSED],
)
def test_resume_reads_regular_files_only(invoke, tmp_path, make, fragment):
    make(tmp_path)
    with unblocked(tmp_path):
        result = invoke("optim", *RUN, "--resume", str(tmp_path / "x"))
    one_line_error(result, f"--resume {tmp_path}/{fragment}")


# --- finding 2: a failing write is one line, and the old checkpoint stays ----------------------

NOSPACE = os.strerror(errno.ENOSPC)


def torch_save_disk_full(monkeypatch, folder: Path) -> None:
    """What torch.save does on a full disk: a RuntimeError, the OSError as its context."""

    def save(obj, file, *args, **kwargs):
        file.write(b"PK\x03\x04 a beginning")
        try:
            raise OSError(errno.ENOSPC, NOSPACE)
        except OSError:
            raise RuntimeError(
                "[enforce fail at inline_container.cc:672] . unexpected pos"
            ) from None

    monkeypatch.setattr(torch, "save", save)


def fsync_disk_full(monkeypatch, folder: Path) -> None:
    def fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, NOSPACE)

    monkeypatch.setattr(os, "fsync", fsync)


def refused_create(code: int):
    """os.open that refuses, with ``code``, to create a file in the folder (as a read-only
    filesystem or a folder without write permission would), after --save's checks passed."""

    def patch(monkeypatch, folder: Path) -> None:
        real_open = os.open

        def fake_open(path, flags, *args, **kwargs):
            creates = flags & os.O_CREAT or flags & os.O_TMPFILE == os.O_TMPFILE
            if creates and str(path).startswith(str(folder)):
                raise OSError(code, os.strerror(code), str(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", fake_open)

    return patch


def rename_refused(monkeypatch, folder: Path) -> None:
    def replace(*args, **kwargs):
        raise OSError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(os, "replace", replace)


def no_tmpfile(monkeypatch) -> None:
    """The filesystem has no O_TMPFILE: the named temporary file is used instead."""

    def unnamed(target, checkpoint):
        raise OSError(errno.EOPNOTSUPP, os.strerror(errno.EOPNOTSUPP))

    monkeypatch.setattr(checkpoint, "_save_unnamed", unnamed)


@pytest.mark.parametrize("way", fast_cases(["unnamed", "named"]))
@pytest.mark.parametrize(
    ("fault", "reason"),
    fast_cases(
        [
            (torch_save_disk_full, NOSPACE),
            (fsync_disk_full, NOSPACE),
            (refused_create(errno.EACCES), os.strerror(errno.EACCES)),
            (refused_create(errno.EROFS), os.strerror(errno.EROFS)),
            (rename_refused, os.strerror(errno.EACCES)),
        ],
        2,
        several=True,
    ),
    ids=["disk-full", "disk-full-at-fsync", "no-permission", "read-only", "rename-refused"],
)
def test_a_failing_write_is_one_line_and_keeps_the_old_checkpoint(
    invoke, tmp_path, monkeypatch, way, fault, reason
):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    ckpt = folder / "a.pt"
    assert invoke("optim", *RUN, "--save", str(ckpt)).exit_code == 0
    old = ckpt.read_bytes()
    if way == "named":
        no_tmpfile(monkeypatch)
    fault(monkeypatch, folder)
    result = invoke("optim", *RUN, "--seed", "1", "--save", str(ckpt))
    monkeypatch.undo()
    assert result.exit_code == 2, (result.stderr, result.exception)
    assert [r["step"] for r in jsonl(result.stdout)] == [0, 1]  # the run itself went well
    assert (
        result.stderr == f"gradcli: error: --save {ckpt}: cannot write the checkpoint: {reason}\n"
    )
    assert ckpt.read_bytes() == old
    assert os.listdir(folder) == ["a.pt"]  # no temporary file


@pytest.mark.parametrize(
    "stale", fast_cases(["{pid}", "taken"]), ids=["same-pid", "random-name-taken"]
)
def test_a_stale_temporary_file_is_left_alone(invoke, tmp_path, monkeypatch, stale):
    ckpt = tmp_path / "a.pt"
    left = tmp_path / f".a.pt.{stale.format(pid=os.getpid())}.tmp"
    left.write_text("left by a crash")
    names = iter(["taken", "taken", "fresh"])
    monkeypatch.setattr(checkpoint.secrets, "token_hex", lambda n: next(names))
    result = invoke("optim", *RUN, "--save", str(ckpt))
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert result.stderr == ""
    assert [r["step"] for r in jsonl(result.stdout)] == [0, 1]
    assert torch.load(ckpt, weights_only=True)["step"] == 1
    assert sorted(os.listdir(tmp_path)) == sorted(["a.pt", left.name])
    assert left.read_text() == "left by a crash"


# --- finding 3: a foreign structure is refused, all of it checked before use -------------------

INVALID = "not a valid gradcli checkpoint: "
FOREIGN = [
    ("step-missing", lambda c: c.pop("step"), INVALID + "step is missing"),
    ("step-str", lambda c: c.update(step="abc"), INVALID + "step is 'abc', not an int >= 0"),
    ("step-negative", lambda c: c.update(step=-5), INVALID + "step is -5, not an int >= 0"),
    ("step-float", lambda c: c.update(step=1.0), INVALID + "step is 1.0, not an int >= 0"),
    ("step-bool", lambda c: c.update(step=True), INVALID + "step is True, not an int >= 0"),
    ("version-bool", lambda c: c.update(version=True), "checkpoint version True, this gradcli"),
    ("config-list", lambda c: c.update(config=["seed"]), INVALID + "config is a list, not a dict"),
    ("config-no-model", lambda c: c["config"].pop("model"), INVALID + "config['model'] is missing"),
    (
        "config-model-int",
        lambda c: c["config"].update(model=3),
        INVALID + "config['model'] is 3, not a str of one line",
    ),
    (
        "config-model-lines",
        lambda c: c["config"].update(model="seed\nx"),
        INVALID + "config['model'] is 'seed\\nx', not a str of one line",
    ),
    (
        "config-int-key",
        lambda c: c["config"].update({1: "x"}),
        INVALID + "config has a key 1, not a str",
    ),
    (
        "rng-tensor",
        lambda c: c.update(rng=torch.zeros(3)),
        INVALID + "rng is a float32 tensor of shape [3] on cpu, not a dict",
    ),
    ("rng-no-torch", lambda c: c["rng"].pop("torch"), INVALID + "rng['torch'] is missing"),
    (
        "rng-float",
        lambda c: c["rng"].update(torch=c["rng"]["torch"].float()),
        INVALID + "rng['torch'] is a float32 tensor of shape [5056] on cpu, not a CPU RNG state",
    ),
    (
        "rng-short",
        lambda c: c["rng"].update(torch=c["rng"]["torch"][:100].clone()),
        INVALID + "rng['torch'] is a uint8 tensor of shape [100] on cpu, not a CPU RNG state",
    ),
    (
        "cuda-not-list",
        lambda c: c["rng"].update(cuda="x"),
        INVALID + "rng['cuda'] is 'x', not a list",
    ),
    (
        "cuda-float",
        lambda c: c["rng"].update(cuda=[torch.zeros(16)]),
        INVALID + "rng['cuda'][0] is a float32 tensor of shape [16] on cpu, "
        "not a 1-d uint8 CPU tensor",
    ),
    (
        "state-list",
        lambda c: c.update(update_state=[]),
        INVALID + "update_state is a list, not a dict",
    ),
    (
        "state-str-index",
        lambda c: c.update(update_state={"0": c["update_state"][0]}),
        INVALID + "a key of update_state is '0', not an int >= 0",
    ),
    (
        "state-negative-index",
        lambda c: c.update(update_state={-1: c["update_state"][0]}),
        INVALID + "a key of update_state is -1, not an int >= 0",
    ),
    (
        "state-not-dict",
        lambda c: c["update_state"].update({0: [1.0]}),
        INVALID + "update_state[0] is a list, not a dict",
    ),
    (
        "state-value-list",
        lambda c: c["update_state"][0].update(exp_avg=[0.0, 0.0, 0.0]),
        "optimizer state 'exp_avg' of parameter #0 is a list, not a tensor",
    ),
    (
        "state-value-sparse",
        lambda c: c["update_state"][0].update(exp_avg=torch.zeros(3).to_sparse()),
        "optimizer state 'exp_avg' of parameter #0 is a sparse_coo float32 tensor of shape [3] "
        "on cpu, not a dense tensor",
    ),
    (
        "state-unknown-key",
        lambda c: c["update_state"][0].update(momentum_buffer=torch.zeros(3)),
        "optimizer state 'momentum_buffer' of parameter #0 is a float32 tensor of shape [3] on "
        "cpu, not one of the keys exp_avg, exp_avg_sq, max_exp_avg_sq, step",
    ),
    (
        "state-value-float64",
        lambda c: c["update_state"][0].update(exp_avg=torch.zeros(3, dtype=torch.float64)),
        "optimizer state 'exp_avg' of parameter #0 is a float64 tensor of shape [3] on cpu, "
        "not the parameter's float32 of shape [3]",
    ),
    (
        "state-step-vector",
        lambda c: c["update_state"][0].update(step=torch.ones(3)),
        "optimizer state 'step' of parameter #0 is a float32 tensor of shape [3] on cpu, "
        "not a scalar",
    ),
    ("model-list", lambda c: c.update(model=[torch.zeros(3)]), INVALID + "model is a list"),
    (
        "model-value-list",
        lambda c: c["model"].update(w=[1.0, 2.0, 3.0]),
        INVALID + "model['w'] is a list, not a dense tensor",
    ),
    (
        "model-float64",
        lambda c: c["model"].update(w=c["model"]["w"].double()),
        "its parameters do not fit this model: its 'w' is a float64 tensor of shape [3] on cpu, "
        "this model's is a float32 tensor of shape [3] on cpu",
    ),
    (
        "model-no-w",
        lambda c: c["model"].pop("w"),
        "its parameters do not fit this model: it lacks 'w'",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    fast_cases([case[1:] for case in FOREIGN], 2, several=True),
    ids=[c[0] for c in FOREIGN],
)
@pytest.mark.parametrize("path", fast_cases(["manual", "optim"]))
def test_a_foreign_structure_is_one_line(invoke, tmp_path, good, path, mutate, fragment):
    saved = torch.load(good, weights_only=True)
    mutate(saved)
    bad = tmp_path / "bad.pt"
    torch.save(saved, bad)
    result = invoke(path, *RUN, "--resume", str(bad))
    one_line_error(result, f"--resume {bad}: {fragment}")


def test_the_real_checkpoint_still_resumes(invoke, good):
    result = invoke("manual", *RUN, "--resume", str(good))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert [r["step"] for r in jsonl(result.stdout)] == [2]


# --- finding 4: a zip bomb is refused before anything is unpacked ------------------------------


def deflated(saved: dict, path: Path) -> None:
    """``saved`` as torch.save writes it, its members then compressed (torch reads that)."""
    buffer = io.BytesIO()
    torch.save(saved, buffer)
    with (
        zipfile.ZipFile(buffer) as stored,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as packed,
    ):
        for member in stored.infolist():
            packed.writestr(member.filename, stored.read(member))


def bomb(good: Path, bad: Path, monkeypatch) -> str:
    saved = torch.load(good, weights_only=True)
    saved["model"]["w"] = torch.zeros(2_000_000)  # 8 MB of zeros, about 10 KB deflated
    deflated(saved, bad)
    return ", more than 100 times its own size ("


def over_the_limit(good: Path, bad: Path, monkeypatch) -> str:
    bad.write_bytes(good.read_bytes())
    monkeypatch.setattr(checkpoint, "MAX_UNPACKED", 4096)  # as if the checkpoint were huge
    return ", more than the limit of 4096 bytes"


@pytest.mark.parametrize(
    "make", fast_cases([bomb, over_the_limit], {over_the_limit}), ids=["ratio", "limit"]
)
def test_a_zip_bomb_is_refused_before_it_is_unpacked(invoke, tmp_path, good, monkeypatch, make):
    bad = tmp_path / "bad.pt"
    fragment = make(good, bad, monkeypatch)

    def load(*args, **kwargs):
        raise AssertionError("torch.load was reached")

    monkeypatch.setattr(torch, "load", load)
    result = invoke("optim", *RUN, "--resume", str(bad))
    one_line_error(result, f"--resume {bad}: refused: it would unpack to ", fragment)


@pytest.mark.parametrize("form", fast_cases(["deflated", "legacy"]))
def test_checkpoints_in_other_torch_forms_still_resume(invoke, tmp_path, good, form):
    saved = torch.load(good, weights_only=True)
    other = tmp_path / "other.pt"
    if form == "deflated":
        deflated(saved, other)  # small: well under MAX_RATIO
    else:
        torch.save(saved, other, _use_new_zipfile_serialization=False)  # not a zip: torch decides
    result = invoke("optim", *RUN, "--resume", str(other))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert [r["step"] for r in jsonl(result.stdout)] == [2]


def _user_model_checkpoint(tmp_path, invoke) -> tuple[str, str]:
    (tmp_path / "mine.py").write_text(
        "import pathlib, torch\n"
        "pathlib.Path(__file__).with_name('ran').touch()\n"
        "class P(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.w = torch.nn.Parameter(torch.ones(2))\n"
        "    def forward(self):\n"
        "        return (self.w ** 2).sum()\n"
        "def build():\n"
        "    return P()\n"
    )
    model, ck = f"{tmp_path}/mine.py:build", str(tmp_path / "ck.pt")
    saved = invoke("optim", "-m", model, "--steps", "2", "--save", ck, "-f", "jsonl")
    assert saved.exit_code == 0, saved.stderr
    (tmp_path / "ran").unlink()
    return model, ck


def test_a_checkpoint_never_chooses_code_that_runs(tmp_path, invoke):
    """A checkpoint of a run on the user's model is resumed only when the user names the
    model again; a crafted one naming any module is refused before anything is imported."""
    model, ck = _user_model_checkpoint(tmp_path, invoke)
    refused = invoke("optim", "--resume", ck)
    assert refused.exit_code == 2 and refused.stdout == ""
    assert refused.stderr == (
        f"gradcli: error: --resume {ck}: the checkpoint was trained on --model {model}, code "
        f"of yours; gradcli runs no code a checkpoint names: resume with --model {model} to "
        "run it\n"
    )
    assert not (tmp_path / "ran").exists()  # the file was not imported
    named = invoke("optim", "--resume", ck, "-m", model, "-f", "jsonl")
    assert named.exit_code == 0, named.stderr
    crafted = torch.load(ck, weights_only=True)
    crafted["config"]["model"] = "os:abort"
    torch.save(crafted, tmp_path / "crafted.pt")
    for command in ("optim", "manual"):
        result = invoke(command, "--resume", str(tmp_path / "crafted.pt"))
        assert result.exit_code == 2 and result.stdout == ""
        assert "--model os:abort, code of yours; gradcli runs no code" in result.stderr


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda c: c["rng"].update(torch=torch.full_like(c["rng"]["torch"], 7)), "its RNG state"),
        (lambda c: c["config"].update(steps=10**30), "--steps must be an integer in [0, 2**63)"),
        (lambda c: c["config"].update(lr=10**400), "got a number too large to use"),
    ],
)
def test_crafted_values_in_a_checkpoint_are_checked_as_the_command_line(
    invoke, tmp_path, change, says
):
    ck = tmp_path / "ck.pt"
    assert invoke("optim", "--steps", "2", "--save", str(ck), "-f", "jsonl").exit_code == 0
    crafted = torch.load(ck, weights_only=True)
    change(crafted)
    torch.save(crafted, ck)
    result = invoke("optim", "--resume", str(ck), "-f", "jsonl")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and says in result.stderr
