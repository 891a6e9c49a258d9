"""The run spec: every choice a run depends on, validated before anything runs.

No torch here: the CLI builds and checks a spec before paying for ``import torch``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from gradcli import optimizers
from gradcli.constructor import checked, parse_constructor
from gradcli.errors import GradcliError, did_you_mean
from gradcli.optimizers.catalog import Optimizer, Value, plain
from gradcli.output import Output
from gradcli.printable import printable

if TYPE_CHECKING:
    from gradcli.schedules.schedule_spec import ScheduleSpec

MODELS: dict[str, str] = {
    "linear": "linear regression, nn.Linear(3, 1) on 64 noisy samples, MSE loss",
    "seed": "w = [1, 2, 3], loss = mean(w): the classic example, constant gradient 1/3",
    "mlp": "2-16-16-2 tanh MLP classifying two moons, cross-entropy loss",
    "rosenbrock": "a point starting at (-2, 2) on the Rosenbrock function",
    "embedding": "nn.Embedding(10, 3, sparse=True) fitted to target vectors: sparse gradients",
    "beale": "a point starting at (1, 1.5) on Beale's function",
    "himmelblau": "a point starting at (0, 0) on Himmelblau's function (four minima)",
    "rastrigin": "a point starting at (-2, 3.5) on the Rastrigin function (many local minima)",
}
PITFALL_SUMMARIES: dict[str, str] = {
    "data-zero": "zeroing the weights instead of the gradients: the weights collapse to −lr·grad",
    "no-zero-grad": "forgetting optimizer.zero_grad(): gradients accumulate across steps",
    "inplace-leaf": "updating a leaf that requires grad outside torch.no_grad(): torch refuses",
    "plain-tensor": "a weight kept as a plain tensor attribute: the optimizer never sees it",
    "set-to-none": "zero_grad() sets .grad to None by default (since torch 2.0), not to zeros",
    "variable": "torch.autograd.Variable is a no-op today: requires_grad on a tensor matters",
    "scheduler-first": "scheduler.step() before optimizer.step(): the first learning rate is "
    "skipped",
    "clip-after-step": "clipping after optimizer.step(): the update already used the unclipped "
    "gradient",
    "eval-mode": "evaluating without model.eval(): dropout and batch norm still act as in training",
    "no-grad": "evaluating without torch.no_grad(): autograd keeps a graph, and a stray "
    "backward() runs",
    "accumulate-no-divide": "micro-batches' losses not divided by K: the effective lr grows K-fold",
    "zero-grad-each-micro-batch": "zero_grad() per micro-batch: only the last micro-batch counts",
    "clip-before-unscale": "clipping before scaler.unscale_(): the threshold meets S·g, not g",
    "fp16-without-scaler": "float16 without a GradScaler: small gradients underflow to zero",
}
DATASETS: dict[str, str] = {
    "digits": "scikit-learn's 1,797 8×8 hand-written digits, 10 classes (pip install "
    "'gradcli[data]')",
    "mnist": "MNIST's 70,000 28×28 digits from their IDX files (downloaded once, or --data-dir)",
    "fashion-mnist": "Fashion-MNIST's 70,000 28×28 clothes from their IDX files",
    "FILE.csv": "a table of yours: --target COLUMN, every other column an input",
}
DATA_MODELS: dict[str, str] = {  # what --model names with --data (gradcli/data/models.py)
    "linear": "Flatten → Linear(inputs, outputs): logistic or linear regression",
    "mlp": "Flatten → 64 → ReLU → 64 → ReLU → outputs",
    "cnn": "two 3×3 convolutions (16, 32 channels) with ReLU and 2×2 max-pooling → outputs",
}
LOSSES = ("cross-entropy", "mse")
TASKS = ("classification", "regression")
SCHEDULE_PER = ("batch", "epoch")
DDP_MODELS = ("linear", "mlp")  # the built-ins that own a data set to shard
SPARSE_MODELS = ("embedding",)  # the built-ins whose gradients are sparse
DTYPES = ("float32", "float64")
FORMATS = ("auto", "table", "jsonl", "csv", "tsv")
PATHS = ("manual", "optim")

IMPLS = ("forloop", "foreach", "fused")

_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


@dataclass(frozen=True)
class RunSpec:
    """One training run. ``None`` means "the default": the problem's lr, torch's hyperparameters."""

    model: str = "linear"
    optimizer: str = "sgd"
    lr: float | None = None
    # the hyperparameters the user set, by torch's keyword (validated); torch's defaults
    # fill in the rest
    settings: Mapping[str, Value] = field(default_factory=dict)
    impl: str | None = None
    state: bool = False
    explain: bool = False
    show_code: bool = False
    steps: int = 100
    seed: int = 0
    device: str = "auto"
    dtype: str = "float32"
    every: int | None = None  # None: every step for machines, about TABLES tables for a person
    format: str = "auto"
    quiet: bool = False
    color: bool | None = None
    save: str | None = None
    resume: str | None = None
    # the learning-rate schedule, in torch's constructor syntax (checked by validate)
    schedule: str | None = None
    # gradient clipping before each update: by total norm, or element by element
    clip_norm: float | None = None
    norm_type: float | None = None  # None: 2.0, torch's default
    clip_value: float | None = None
    accumulate: int = 1  # micro-batches (forward and backward) per update
    amp: str | None = None  # mixed precision: the forward under torch.autocast (bf16, fp16)
    # --amp fp16's gradient scaler: torch.amp.GradScaler's init_scale and growth_interval
    loss_scale: float = 65536.0
    growth_interval: int = 2000
    # the mini-batch loop (issue 22): a data set, its batches and epochs, held-out data
    data: str | None = None  # None: the model is a problem with its own data (forward())
    target: str | None = None  # a table's target column
    data_dir: str | None = None  # where MNIST's files are (or go)
    val_fraction: float | None = None  # None: the set's own test split, else 0.2
    data_seed: int = 0  # the held-out rows and the batches' order
    batch_size: int | None = None  # None: the whole training set in one batch
    epochs: int | None = None  # when given, steps = epochs × batches per epoch
    shuffle: bool = True
    drop_last: bool = False
    loss: str | None = None  # None: the task's (cross-entropy, mse)
    task: str | None = None  # a table's: classification or regression (None: inferred)
    schedule_per: str = "batch"  # with --data: scheduler.step() after each batch or epoch

    @property
    def output(self) -> Output:
        return Output(self.format, self.quiet, self.color)

    @property
    def optimizer_info(self) -> Optimizer:
        return optimizers.find(self.optimizer)

    def hyperparameters(self) -> dict[str, Value]:
        """Every keyword of the optimizer, torch's defaults filled in (lr excluded)."""
        return {**self.optimizer_info.defaults, **self.settings}

    @property
    def schedule_spec(self) -> ScheduleSpec | None:
        """The parsed ``--schedule`` (None without one)."""
        if self.schedule is None:
            return None
        from gradcli.schedules.schedule_spec import parse_schedule  # (not for --help)

        return parse_schedule(self.schedule)

    def shows(self, step: int, last: int | None = None) -> bool:
        """Whether ``step`` is printed: every ``every``-th step, and always step 0 and the
        ``last`` (by default ``steps``; a resumed run ends later)."""
        every = self.every if self.every is not None else 1
        return step in (0, self.steps if last is None else last) or step % every == 0

    def with_every(self) -> RunSpec:
        """This run with ``every`` decided: as given, else every step in the machine formats
        (a script wants them all) and about ``TABLES`` step tables in a table, which a person
        reads (100 steps: every 10th; step 0 and the last are shown as well)."""
        if self.every is not None:
            return self
        table = self.output.resolved_format() == "table"
        return replace(self, every=max(1, math.ceil(self.steps / TABLES)) if table else 1)


TABLES = 10


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _choice(name: str, value: str, allowed: tuple[str, ...] | dict[str, str]) -> None:
    if value not in allowed:
        hint = did_you_mean(value, allowed)
        raise GradcliError(
            f"{_option(name)}: unknown {name} {value!r}{hint}; choose one of: {', '.join(allowed)}"
        )


def _number(
    name: str,
    value: float | None,
    low: float,
    high: float | None = None,
    *,
    high_open: bool = False,
) -> None:
    if value is None:
        return
    if high is None:
        allowed = f"a finite number >= {low:g}"
        ok = math.isfinite(value) and value >= low
    else:
        bracket = ")" if high_open else "]"
        allowed = f"a number in [{low:g}, {high:g}{bracket}"
        ok = (
            math.isfinite(value) and low <= value and (value < high if high_open else value <= high)
        )
    if not ok:
        raise GradcliError(f"{_option(name)} must be {allowed}, got {value!r}")


def check_model(model: str, builtins: tuple[str, ...] = tuple(MODELS)) -> None:
    """A built-in's name, or ``module:factory`` / ``file.py:factory`` (checked when loaded)."""
    if ":" in model or model in builtins:
        return
    if model.endswith(".py") or "/" in model or "." in model:  # a file or module, no factory
        raise GradcliError(
            f"--model {model}: name the function that builds the model too, as "
            f"{model}:FACTORY (FACTORY() returns the nn.Module)"
        )
    _choice("model", model, {**dict.fromkeys(builtins, ""), "module:factory": ""})


def validate(spec: RunSpec) -> RunSpec:
    """Check every field of ``spec``; raise GradcliError naming the first bad one."""
    if spec.data is None:
        check_model(spec.model)  # a user's factory is loaded (and checked) with torch
    else:
        check_model(spec.model, tuple(DATA_MODELS))
    check_data_options(spec)

    optimizers.find(spec.optimizer)
    _choice("dtype", spec.dtype, DTYPES)
    _choice("format", spec.format, FORMATS)
    if not _DEVICE.fullmatch(spec.device):
        raise GradcliError(
            f"--device: unknown device {spec.device!r}; choose one of: auto, cpu, cuda, cuda:N"
        )
    if not 0 <= spec.steps < 2**63:  # (torch counts steps in int64)
        raise GradcliError(f"--steps must be an integer in [0, 2**63), got {spec.steps}")
    if spec.every is not None and spec.every < 1:
        raise GradcliError(f"--every must be an integer >= 1, got {spec.every}")
    if not 0 <= spec.seed < 2**63:
        raise GradcliError(f"--seed must be an integer in [0, 2**63), got {spec.seed}")
    _number("lr", spec.lr, 0.0)
    if not 1 <= spec.accumulate <= 2**20:
        raise GradcliError(
            f"--accumulate must be an integer in [1, 2**20] (micro-batches per update), "
            f"got {spec.accumulate}"
        )
    if spec.accumulate > 1 and optimizers.find(spec.optimizer).closure:
        raise GradcliError(
            f"--accumulate {spec.accumulate}: {spec.optimizer} evaluates the loss itself in its "
            "step (a closure), which micro-batches cannot share; use it without --accumulate"
        )
    check_amp(spec)
    check_fits_dtype(spec)
    if spec.impl is not None:
        _choice("impl", spec.impl, IMPLS)
    check_schedule_and_clipping(spec)
    return spec


AMP = ("bf16", "fp16")
FLOAT32_LARGEST = 3.4028234663852886e38


def check_amp(spec: RunSpec) -> None:
    """``--amp``: bf16 or fp16, on float32 master weights; the scaler's options (the loss
    scale in float32's range, a growth interval >= 1) only with fp16, which has a scaler."""
    if spec.amp != "fp16":
        for option, default in (("loss_scale", 65536.0), ("growth_interval", 2000)):
            if getattr(spec, option) != default:
                raise GradcliError(
                    f"{_option(option)} applies with --amp fp16 only (its gradient scaler)"
                )
    if spec.amp is None:
        return
    _choice("amp", spec.amp, AMP)
    if spec.dtype != "float32":
        raise GradcliError(
            f"--amp {spec.amp}: mixed precision keeps float32 master weights; use it with "
            f"--dtype float32, not {spec.dtype}"
        )
    if spec.amp == "fp16":
        scale = spec.loss_scale
        if not (math.isfinite(scale) and 0 < scale <= FLOAT32_LARGEST):
            raise GradcliError(
                f"--loss-scale must be a number in (0, {FLOAT32_LARGEST:.4g}] (float32's "
                f"largest; the scale is a float32), got {scale!r}"
            )
        if not 1 <= spec.growth_interval < 2**31:
            raise GradcliError(
                "--growth-interval must be an integer in [1, 2**31) (steps without an "
                f"inf/NaN before the scale doubles), got {spec.growth_interval}"
            )
        if optimizers.find(spec.optimizer).closure:
            raise GradcliError(
                f"--amp fp16: {spec.optimizer} evaluates the loss itself in its step (a "
                "closure), which torch's GradScaler does not support; use --amp bf16"
            )


DTYPE_LARGEST = {"float32": 3.4028234663852886e38, "float64": 1.7976931348623157e308}


def check_fits_dtype(spec: RunSpec) -> None:
    """Every number the update multiplies by (the lr, the hyperparameters, the clipping
    bounds) fits the run's dtype: torch refuses one that does not in the middle of the
    update ("value cannot be converted to type float without overflow")."""
    largest = DTYPE_LARGEST.get(spec.dtype)
    if largest is None:
        return
    numbers: list[tuple[str, object]] = [("--lr", spec.lr)]
    numbers += [(f"--optimizer {spec.optimizer}: {k}", v) for k, v in spec.settings.items()]
    numbers += [("--clip-norm", spec.clip_norm), ("--clip-value", spec.clip_value)]
    for where, value in numbers:
        values = value if isinstance(value, tuple | list) else (value,)
        for v in values:
            if isinstance(v, float) and math.isfinite(v) and abs(v) > largest:
                raise GradcliError(
                    f"{where} {v:g} is beyond {spec.dtype}'s largest number, {largest:.4g}; "
                    "choose a smaller one" + (", or --dtype float64" * (spec.dtype != "float64"))
                )


def check_data_options(spec: RunSpec) -> None:
    """The mini-batch options: in range, and only with ``--data``."""
    if spec.data is None:
        given = [name for name, default in DATA_OPTIONS.items() if getattr(spec, name) != default]
        if given:
            option = "--no-shuffle" if given[0] == "shuffle" else _option(given[0])
            raise GradcliError(
                f"{option} applies with --data only (a data set to draw batches "
                f"from: {', '.join(DATASETS)})"
            )
        return
    if spec.batch_size is not None and spec.batch_size < 1:
        raise GradcliError(f"--batch-size must be an integer >= 1, got {spec.batch_size}")
    if spec.epochs is not None and spec.epochs < 1:
        raise GradcliError(f"--epochs must be an integer >= 1, got {spec.epochs}")
    _number("val_fraction", spec.val_fraction, 0.0, 1.0, high_open=True)
    if not 0 <= spec.data_seed < 2**63:
        raise GradcliError(f"--data-seed must be an integer in [0, 2**63), got {spec.data_seed}")
    if spec.loss is not None:
        _choice("loss", spec.loss, LOSSES)
    if spec.task is not None:
        _choice("task", spec.task, TASKS)
    _choice("schedule_per", spec.schedule_per, SCHEDULE_PER)


DATA_OPTIONS: dict[str, object] = {  # the options that need --data, with their defaults
    "target": None,
    "data_dir": None,
    "val_fraction": None,
    "data_seed": 0,
    "batch_size": None,
    "epochs": None,
    "shuffle": True,
    "drop_last": False,
    "loss": None,
    "task": None,
    "schedule_per": "batch",
}


def check_schedule_and_clipping(spec: RunSpec, start: int = 0) -> None:
    """``--schedule`` parses and lasts the run (steps ``start + 1`` to ``start + steps``);
    ``--clip-norm`` / ``--norm-type`` / ``--clip-value`` are in range and not mixed."""
    schedule = spec.schedule_spec
    if schedule is not None:
        from gradcli.schedules.schedule_spec import lacks_momentum

        wrong = lacks_momentum(schedule, spec.hyperparameters(), spec.optimizer_info.torch_class)
        if wrong:
            raise GradcliError(f"--schedule {schedule.text}: {wrong}")
        check = spec.optimizer_info.schedule_check
        if schedule.drives_momentum and check is not None:
            from gradcli.schedules.schedule import Schedule

            first = Schedule(schedule, spec.lr or 0.01, spec.hyperparameters())
            wrong = check(first.hyperparameters())
            if wrong:
                raise GradcliError(f"--schedule {schedule.text}: {wrong}")
        most = schedule.most_steps
        if most is not None and start + spec.steps > most:
            run = f"{spec.steps}" if start == 0 else f"{start} + {spec.steps}"
            raise GradcliError(
                f"--schedule {schedule.text}: takes at most {most} steps (torch refuses more), "
                f"and this run has --steps {run}"
            )
    for name in ("clip_norm", "clip_value"):
        value = getattr(spec, name)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise GradcliError(f"{_option(name)} must be a finite number > 0, got {value!r}")
    if spec.clip_norm is not None and spec.clip_value is not None:
        raise GradcliError(
            "--clip-norm and --clip-value: give one of them (clip by the total norm, or each "
            "element to [-V, V])"
        )
    if spec.norm_type is not None:
        if spec.clip_norm is None:
            raise GradcliError("--norm-type applies with --clip-norm only")
        if not spec.norm_type > 0 or math.isnan(spec.norm_type):  # (+inf: the largest |g|)
            raise GradcliError(
                f"--norm-type must be a number > 0 or inf (2: Euclidean, inf: largest |g|), "
                f"got {spec.norm_type!r}"
            )


# The optimizer: a name or torch's constructor, and the options that set its keywords.


def parse_optimizer(text: str, where: str = "--optimizer") -> tuple[Optimizer, dict[str, Any]]:
    """``adam``, ``Adam`` or torch's constructor ``Adam(lr=0.01, betas=(0.8, 0.99))`` →
    the optimizer and its keywords as given (lr among them), each checked. Parsed by the one
    constructor parser: only literal values, never evaluated."""
    return parse_constructor(
        text,
        where,
        find=optimizers.find,
        build=lambda optimizer, keywords, _: (optimizer, keywords),
        shape="an optimizer name or a constructor like 'Adam(lr=0.01)'",
    )


def choose_optimizer(
    text: str, flags: Mapping[str, Any], *, strict: bool = True
) -> tuple[str, float | None, dict[str, Value]]:
    """The optimizer named or constructed by ``text``, its ``lr`` (None: the problem's) and
    the hyperparameters set, validated. ``flags`` are the options that set a keyword
    (``--lr``, ``--momentum``, ``--beta1``, ...; None when not given): a flag wins over the
    same keyword inside the constructor. With ``strict``, a flag the optimizer does not take
    is an error; otherwise (compare) it goes to the runs that take it."""
    optimizer, settings = parse_optimizer(text)
    lr = settings.pop("lr", None)
    catalog = optimizers.options()
    for option, value in flags.items():
        if value is None:
            continue
        if option == "lr":
            lr = value
            continue
        mine = [(h, part) for o, h, part in catalog[option] if o is optimizer]
        if not mine:
            if strict:
                raise _does_not_apply(option, f"--optimizer {optimizer.name}")
            continue
        h, part = mine[0]
        if part is None:
            settings[h.name] = checked(_option(option), h.allowed, value)
        else:
            parts = list(settings.get(h.name, h.default))
            parts[part] = checked(_option(option), h.allowed.parts[part], value)  # type: ignore[union-attr]
            settings[h.name] = checked(_option(option), h.allowed, tuple(parts))
    if optimizer.check is not None:
        given_lr = {} if lr is None else {"lr": lr}  # (a check may refuse lr = 0)
        wrong = optimizer.check({**optimizer.defaults, **settings, **given_lr})
        if wrong:
            raise GradcliError(f"--optimizer {optimizer.name}: {wrong}")
    return optimizer.name, lr, settings


def _does_not_apply(option: str, to: str) -> GradcliError:
    users = ", ".join(dict.fromkeys(o.name for o, _, _ in optimizers.options()[option]))
    return GradcliError(f"{_option(option)} does not apply to {to} (it applies to: {users})")


def runs_on(optimizer: Optimizer, model: str) -> bool:
    """Whether torch's optimizer takes the gradients of built-in ``model`` at its defaults
    (a user's model counts as dense here; it is checked when built)."""
    return optimizer.refuses(model in SPARSE_MODELS, optimizer.defaults) is None


def left_out_of_all(values: list[str] | None, model: str) -> list[str]:
    """For ``-o all``: each optimizer it leaves out, with why (torch's optimizer does not
    take ``model``'s gradients), as ``sparseadam: torch.optim.SparseAdam takes ...``."""
    if [v.strip().lower() for v in values or ()] != ["all"]:
        return []
    sparse = model in SPARSE_MODELS
    kind = f"model {printable(model)}'s are {'sparse' if sparse else 'dense'}"
    return [
        f"{o.name}: {reason} ({kind})"
        for o in optimizers.catalog().values()
        if (reason := o.refuses(sparse, o.defaults)) is not None
    ]


def split_optimizers(values: list[str] | None, model: str = "linear") -> list[str]:
    """``-o sgd,adam -o 'SGD(lr=0.1, momentum=0.9)'`` → one text per run: commas separate
    runs outside parentheses only. None given → the classics (``compared_by_default`` in
    their modules; ``-o all`` runs every optimizer); either way only those that take
    ``model``'s gradients (dense or sparse)."""
    if not values:
        return [
            name
            for name in optimizers.compared_by_default()
            if runs_on(optimizers.find(name), model)
        ]
    if [v.strip().lower() for v in values] == ["all"]:
        return [o.name for o in optimizers.catalog().values() if runs_on(o, model)]
    texts = []
    for value in values:
        depth, start = 0, 0
        for i, char in enumerate(value + ","):
            depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(char, 0)
            if char == "," and depth == 0:
                texts.append(value[start:i].strip())
                start = i + 1
        if start < len(value):  # unbalanced brackets: one run, which the parser refuses
            texts.append(value[start:].strip())
    if not any(texts):
        raise GradcliError("--optimizer: no optimizer given; e.g. -o sgd,adam")
    if not all(texts):
        raise GradcliError(f"--optimizer: an empty name in {', '.join(values)!r}")
    return texts


def constructor(optimizer: str, lr: float | None, settings: Mapping[str, Value]) -> str:
    """torch's constructor call for these settings: ``Adam(lr=0.01, betas=(0.8, 0.99))``."""
    keywords = ([f"lr={lr!r}"] if lr is not None else []) + [
        f"{k}={v!r}" for k, v in settings.items()
    ]
    return f"{optimizers.find(optimizer).torch_class}({', '.join(keywords)})"


def labels(specs: list[RunSpec]) -> list[str]:
    """A name per run that says what it ran and tells it apart: the optimizer's, plus its
    settings other than torch's defaults and those in which runs of the same optimizer
    differ (``sgd`` and ``sgd(momentum=0.9)``; the lr shows where runs differ in it, the lr
    column has it always)."""
    found = []
    for spec in specs:
        same = [s for s in specs if s.optimizer == spec.optimizer]
        mine = {"lr": spec.lr, **spec.hyperparameters()}
        defaults = spec.optimizer_info.defaults
        differ = [
            key
            for key in mine
            if any(mine[key] != {"lr": s.lr, **s.hyperparameters()}[key] for s in same)
            or (key in defaults and mine[key] != defaults[key])
        ]
        if len(same) == 1 and not differ:
            found.append(spec.optimizer)
            continue
        if not differ:
            given = spec.optimizer
            if spec.lr is not None or spec.settings:
                given = constructor(spec.optimizer, spec.lr, spec.settings)
            raise GradcliError(
                f"--optimizer: {given} is given twice; the runs of one optimizer must differ "
                "in some setting"
            )
        shown = ", ".join(f"{key}={plain(mine[key])}" for key in differ)
        found.append(f"{spec.optimizer}({shown})")
    return found


def specs_for_compare(
    texts: list[str],
    flags: Mapping[str, Any],
    options: Mapping[str, Any],
    tol: float | None,
    target_accuracy: float | None = None,
) -> list[RunSpec]:
    """One validated spec per run; each flag goes to the runs whose optimizer takes it, and
    one that none of them takes is an error. ``target_accuracy`` (a held-out accuracy) needs
    ``--data``."""
    if target_accuracy is not None:
        if options.get("data") is None:
            raise GradcliError(
                "--target-accuracy applies with --data only (the held-out accuracy of a data "
                f"set: {', '.join(DATASETS)}); without it, --tol gives the steps to a loss"
            )
        if not (math.isfinite(target_accuracy) and 0 < target_accuracy <= 1):
            raise GradcliError(
                "--target-accuracy must be a fraction in (0, 1] (0.95 for 95%), got "
                f"{target_accuracy!r}"
            )
    chosen = [optimizers.find(parse_optimizer(text)[0].name) for text in texts]
    for option, value in flags.items():
        takes = {o.name for o, _, _ in optimizers.options().get(option, [])}
        if value is not None and option != "lr" and not takes & {o.name for o in chosen}:
            names = ",".join(dict.fromkeys(o.name for o in chosen))
            raise _does_not_apply(option, f"any of --optimizer {names}")
    _number("tol", tol, 0.0)  # a loss level; a negative one would read as "never"
    specs = []
    for text in texts:
        name, lr, settings = choose_optimizer(text, flags, strict=False)
        specs.append(validate(RunSpec(optimizer=name, lr=lr, settings=settings, **options)))
    labels(specs)  # refuses a run given twice
    return specs
