"""``gradcli ddp``: data-parallel training on torch.distributed, by hand and with DDP.

Each of N worker processes holds one shard of the problem's data and computes the gradient of
its own shard's loss. Before the update the gradients are averaged across workers:

- ``--path manual``: ``dist.all_reduce(grad, SUM)`` then ``grad /= world_size``, then the
  hand-written rule from the optimizer catalog (``gradcli.optimizers``);
- ``--path ddp``: ``DistributedDataParallel`` averages them during ``backward()``, then
  ``torch.optim``.

With equal shards, the average of the shards' mean losses is the full batch's mean loss, so
both paths follow single-process full-batch training — up to rounding, since the order of a
reduction changes the last bits. Rank 0 prints; every rank checks it holds the same parameters.

Its options (``gradcli.ddp.options``) are checked without torch; ``gradcli.ddp.launch`` starts
the workers, ``gradcli.ddp.worker`` is one of them.
"""

from gradcli.ddp.options import DdpOptions

__all__ = ["DdpOptions"]
