"""torch's own scheduler built from a ``ScheduleSpec`` (the only module here that imports torch)."""

from __future__ import annotations

from typing import Any

from gradcli.schedules.schedule_spec import ScheduleSpec


def build(spec: ScheduleSpec, optimizer: Any) -> Any:
    """``torch.optim.lr_scheduler.<Class>(optimizer, **keywords)``, schedulers nested inside
    SequentialLR and ChainedScheduler built first, in order, as a script would write them."""
    from torch.optim import lr_scheduler

    cls = getattr(lr_scheduler, spec.scheduler.torch_class)
    keywords = dict(spec.settings)  # the keywords given; torch fills in its own defaults
    if spec.scheduler.nests:
        keywords["schedulers"] = [build(child, optimizer) for child in spec.children()]
        if spec.scheduler.torch_class == "ChainedScheduler":
            return cls(keywords["schedulers"], optimizer=optimizer)
    return cls(optimizer, **keywords)
