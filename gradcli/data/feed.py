"""The batches a run trains on, and the evaluation at the end of each epoch.

The loop a user writes, which both paths run::

    loader = DataLoader(TensorDataset(x, y), batch_size=B, shuffle=True, drop_last=False,
                        generator=torch.Generator().manual_seed(data_seed))
    for epoch in range(epochs):
        model.train()
        for x_batch, y_batch in loader:
            loss = loss_fn(model(x_batch), y_batch)
            ...                       # zero_grad, backward, the update
        model.eval()
        with torch.no_grad():
            ...                       # the held-out loss and accuracy

The loader's own generator fixes the order of the batches (``--data-seed``; ``--seed`` draws
the initial parameters only). It draws from that generator when an epoch's iteration
starts (a base seed, then the shuffled order), so its state at the start of an epoch and the
number of batches taken since are all a checkpoint needs to go on with the same batches.

Under data parallelism (``gradcli ddp``) each process is given a ``Shard`` (its rank among
``world``) and draws its batches as data-parallel code does::

    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True,
                                 seed=data_seed, drop_last=False)
    loader = DataLoader(dataset, batch_size=B, sampler=sampler, drop_last=False)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)      # a new order each epoch, the same on every rank
        for x_batch, y_batch in loader:
            ...

``B`` is then the batch size of each rank. The sampler's order follows from ``data_seed`` and
the epoch alone, so a checkpoint's epoch and batch still say where the feed is. The sums of an
epoch and of an evaluation are combined across the processes by ``Feed.reduce`` (set by the
caller: ``all_reduce``); an evaluation is split among the ranks, each its contiguous share.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from gradcli.data.dataset import CLASSIFICATION, DataSet
from gradcli.errors import GradcliError
from gradcli.usercode import user_code

CROSS_ENTROPY, MSE = "cross-entropy", "mse"
LOSSES = (CROSS_ENTROPY, MSE)
EVAL_BATCH = 1024  # samples per forward when evaluating (bounds the memory it takes)


def loss_for(data: DataSet, loss: str | None) -> str:
    """The task's loss (cross-entropy for classes, mean squared error for targets), or the
    one asked for where it applies."""
    if loss is None:
        return CROSS_ENTROPY if data.task == CLASSIFICATION else MSE
    if loss == CROSS_ENTROPY and data.task != CLASSIFICATION:
        raise GradcliError(
            f"--loss cross-entropy: needs class labels, and {data.name} is a regression "
            "task; use --loss mse"
        )
    return loss


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Loss (the mean over the samples) and, for classification, the fraction right."""

    loss: float
    accuracy: float | None


class Shard(NamedTuple):
    """One process's part under data parallelism: rank ``rank`` of ``world``."""

    rank: int
    world: int


class Feed:
    """The run's ``DataLoader`` and where it is: epoch ``epoch`` (from 1), ``batch``
    batches of it taken. ``loss(model)`` is the current batch's loss, for the loop's
    forward."""

    def __init__(
        self,
        data: DataSet,
        *,
        batch_size: int,
        shuffle: bool,
        drop_last: bool,
        data_seed: int,
        loss: str | None,
        dtype: torch.dtype,
        device: torch.device,
        shard: Shard | None = None,
        accumulate: int = 1,
    ) -> None:
        self.data = data
        self.accumulate = accumulate  # loader batches (micro-batches) per update
        self.shard = shard
        # how a sum over this process's samples becomes the sum over every process's (in
        # place; gradcli ddp: all_reduce); None: this process has them all
        self.reduce: Callable[[Tensor], None] | None = None
        self.loss_name = loss_for(data, loss)
        self.classification = data.task == CLASSIFICATION
        self.dtype, self.device = dtype, device
        x, y = self._tensors(data.x_train, data.y_train)
        dataset = TensorDataset(x, y)
        self.generator = torch.Generator().manual_seed(data_seed)
        self.sampler: DistributedSampler[Any] | None = None
        if shard is None:
            self.loader = DataLoader(
                dataset,
                batch_size=batch_size,
                shuffle=shuffle,
                drop_last=drop_last,
                generator=self.generator,
            )
        else:
            self.sampler = DistributedSampler(
                dataset,
                num_replicas=shard.world,
                rank=shard.rank,
                shuffle=shuffle,
                seed=data_seed,
                drop_last=drop_last,
            )
            self.loader = DataLoader(
                dataset,
                batch_size=batch_size,
                sampler=self.sampler,
                drop_last=drop_last,
                generator=self.generator,  # (its base seed: torch's global one left alone)
            )
        self.batches = len(self.loader) // accumulate  # per epoch (updates, with --accumulate)
        if len(self.loader) % accumulate:
            raise GradcliError(
                f"--accumulate {accumulate}: an epoch of {data.name} has {len(self.loader)} "
                f"batches of {batch_size}, which do not make whole updates of {accumulate}; "
                "choose a K that divides them, or another --batch-size"
            )
        if self.batches == 0:  # (only with --drop-last)
            each = (
                ""
                if shard is None
                else f", {len(self.sampler or ())} for each of {shard.world} ranks"
            )
            raise GradcliError(
                f"--batch-size {batch_size} with --drop-last: {data.name} has {len(x)} training "
                f"samples{each}, so every batch would be dropped; choose a smaller --batch-size"
            )
        self.shuffle, self.data_seed = shuffle, data_seed
        self.epoch, self.batch = 0, self.batches  # the first next() starts epoch 1
        self._iterator: Any = None
        self._epoch_state = self.generator.get_state()
        self.x_batch: Tensor | None = None
        self.y_batch: Tensor | None = None
        self.window: list[tuple[Tensor, Tensor]] = []  # the update's micro-batches
        self._micro = 0  # which of them x_batch is
        self._counted = True
        self._sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss·n, right, n
        self._sums_before = self._sums  # before the current batch counted (see state_dict)

    def _tensors(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Inputs in the run's dtype, targets as the loss wants them (on the CPU: batches move
        to the device one at a time)."""
        x = x.to(self.dtype)
        y = y if self.classification else y.to(self.dtype)
        return x, y

    @property
    def epoch_ended(self) -> bool:
        """The last batch of the current epoch is taken."""
        return self.batch == self.batches

    def next(self) -> None:
        """Take the next batch (starting a new epoch after the last one)."""
        if self.batch == self.batches:
            if self._iterator is not None:  # finish the epoch's iteration, as a for loop over
                # the loader does: a shuffling sampler asked past its last batch draws from
                # the generator once more (when the batch size divides the samples, or the
                # last batch is dropped), and the next epoch's order follows that draw
                for _ in self._iterator:
                    pass
            self.epoch, self.batch = self.epoch + 1, 0
            self._epoch_state = self.generator.get_state()
            self._start_epoch()
            self._sums = torch.zeros_like(self._sums)
        self.window = [
            (x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True))
            for x, y in (next(self._iterator) for _ in range(self.accumulate))
        ]
        self.batch += 1
        self.select(0)

    def select(self, index: int) -> None:
        """Micro-batch ``index`` of the update's (``--accumulate``) as the current batch."""
        self.x_batch, self.y_batch = self.window[index]
        self._micro = index
        self._counted = False

    def _start_epoch(self) -> None:
        """A new iteration over the loader; with a ``DistributedSampler``, after
        ``set_epoch(epoch - 1)`` (epochs count from 1 here, from 0 in the usual loop)."""
        if self.sampler is not None:
            self.sampler.set_epoch(self.epoch - 1)
        self._iterator = iter(self.loader)

    def _loss(self, outputs: Tensor, y: Tensor, reduction: str = "mean") -> Tensor:
        if self.loss_name == CROSS_ENTROPY:
            return F.cross_entropy(outputs, y, reduction=reduction)
        if self.classification:  # mean squared error against one-hot targets
            y = F.one_hot(y, self.data.outputs).to(outputs.dtype)
        return F.mse_loss(outputs, y, reduction=reduction)

    def loss(self, model: nn.Module, count: bool = True) -> Tensor:
        """The current batch's loss (the mean over its samples); the first evaluation of a
        batch also counts towards the epoch's training loss and accuracy (unless ``count``
        is False: a batch evaluated again, as gradcli ddp does for a rank's own gradient)."""
        assert self.x_batch is not None and self.y_batch is not None
        outputs = model(self.x_batch)
        loss = self._loss(outputs, self.y_batch)
        if count and not self._counted:
            self._counted = True
            if self._micro == 0:
                self._sums_before = self._sums.clone()
            n = len(self.y_batch)
            with torch.no_grad():
                right = (
                    (outputs.argmax(dim=1) == self.y_batch).sum()
                    if self.classification
                    else torch.zeros((), device=self.device)
                )
                self._sums += torch.stack(
                    [
                        loss.detach().double() * n,
                        right.double(),
                        torch.tensor(float(n), dtype=torch.float64, device=self.device),
                    ]
                )
        return loss

    def window_loss(self, model: nn.Module) -> Tensor:
        """The loss of the update's micro-batches taken as one batch (counted nowhere)."""
        x = torch.cat([x for x, _ in self.window])
        y = torch.cat([y for _, y in self.window])
        return self._loss(model(x), y)

    def epoch_training(self) -> Evaluation:
        """The epoch's training loss and accuracy so far, as the batches saw them (each at
        the parameters before its update)."""
        sums = self._sums.clone()
        if self.reduce is not None:
            self.reduce(sums)
        loss_sum, right, n = sums.tolist()
        return Evaluation(loss_sum / n, right / n if self.classification else None)

    def evaluate(self, model: nn.Module, split: str = "val") -> Evaluation | None:
        """The loss and accuracy on the held-out data (``split="train"``: the training
        data) under ``model.eval()`` and ``torch.no_grad()``; None without held-out data.
        With a ``Shard`` and ``reduce``, each rank evaluates its contiguous share and the
        sums are reduced (every rank must call it)."""
        x, y = (
            (self.data.x_val, self.data.y_val)
            if split == "val"
            else (self.data.x_train, self.data.y_train)
        )
        if x is None or y is None:
            return None
        samples = len(x)
        x, y = self._tensors(x, y)
        if self.shard is not None and self.reduce is not None:
            x = x.tensor_split(self.shard.world)[self.shard.rank]
            y = y.tensor_split(self.shard.world)[self.shard.rank]
        was_training = model.training
        model.eval()
        try:
            loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
            right = torch.zeros((), dtype=torch.int64, device=self.device)
            with torch.no_grad(), user_code("forward(x)"):
                for start in range(0, len(x), EVAL_BATCH):
                    xb = x[start : start + EVAL_BATCH].to(self.device)
                    yb = y[start : start + EVAL_BATCH].to(self.device)
                    outputs = model(xb)
                    loss_sum += self._loss(outputs, yb, "sum").double()
                    if self.classification:
                        right += (outputs.argmax(dim=1) == yb).sum()
        finally:
            model.train(was_training)
        # mse's mean is over every element (outputs per sample), as in training
        per_sample = self.data.outputs if self.loss_name == MSE else 1
        sums = torch.stack([loss_sum / per_sample, right.double()])
        if self.reduce is not None:
            self.reduce(sums)
        total, correct = sums.tolist()
        return Evaluation(total / samples, correct / samples if self.classification else None)

    def least_squares(self, model: nn.Module) -> dict[str, Tensor]:
        """For the built-in ``linear`` model on a regression task with the mean squared
        error: the least-squares weights and bias on the training data (float64), the optimum
        the run should reach; else nothing."""
        names = [name for name, _ in model.named_parameters()]
        if (
            self.classification
            or self.loss_name != MSE
            or names != ["linear.weight", "linear.bias"]
        ):
            return {}
        x = self.data.x_train.double().reshape(len(self.data.x_train), -1)
        design = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
        solution = torch.linalg.lstsq(design, self.data.y_train.double()).solution
        return {"linear.weight": solution[:-1].T.contiguous(), "linear.bias": solution[-1]}

    @property
    def position(self) -> int:
        """How many batches have been taken, all epochs told (the steps begun)."""
        return max(self.epoch - 1, 0) * self.batches + (self.batch if self.epoch else 0)

    def state_dict(self, steps_done: int | None = None) -> dict[str, Any]:
        """Where the feed is, for a checkpoint: the epoch, the batches taken, the loader's
        generator at the start of the epoch, and the epoch's sums so far. ``steps_done``:
        the steps whose update is done, when the last batch taken was not used (the user's
        code failed in its step): that batch is given back."""
        batch, sums = self.batch, self._sums
        if steps_done is not None and steps_done == self.position - 1 and self.epoch:
            batch -= 1  # (batch 0 of an epoch: its iteration begun, no batch taken)
            # (with --accumulate, a micro-batch after the first: the window's earlier ones
            # were counted, and are given back with it)
            sums = self._sums_before if self._counted or self._micro > 0 else self._sums
        return {
            "epoch": self.epoch,
            "batch": batch,
            "generator": self._epoch_state.clone(),
            "sums": sums.cpu().clone(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Go on where ``state_dict()`` was taken: the same epoch's iteration, replayed to
        the same batch, so the next batch is the one the uninterrupted run took."""
        epoch, batch = int(state["epoch"]), int(state["batch"])
        self.epoch, self.batch = epoch, batch
        self._epoch_state = state["generator"].clone()
        self._sums = state["sums"].to(device=self.device, dtype=torch.float64).clone()
        if epoch == 0:
            self.generator.set_state(self._epoch_state)
            self.batch = self.batches
            return
        self.generator.set_state(self._epoch_state)
        self._start_epoch()
        for _ in range(batch * self.accumulate):
            next(self._iterator)
