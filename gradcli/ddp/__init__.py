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
"""

from gradcli.ddp.launch import DdpOptions, launch

__all__ = ["DdpOptions", "launch"]
