"""What OneCycleLR and CyclicLR do to the optimizer's momentum, shared by both."""

from __future__ import annotations

from typing import Any

from gradcli.errors import GradcliError


def uses_beta1(group: dict[str, Any], torch_class: str) -> bool:
    """True for an optimizer with ``betas`` (β1 = betas[0] is driven), False for one with
    ``momentum``; torch refuses an optimizer with neither."""
    if "momentum" not in group and "betas" not in group:
        raise GradcliError(
            f"{torch_class} with cycle_momentum=True needs an optimizer with momentum or "
            "betas; choose one, or set cycle_momentum=False"
        )
    return "betas" in group


def set_momentum(group: dict[str, Any], use_beta1: bool, momentum: float) -> None:
    if use_beta1:
        group["betas"] = (momentum, *group["betas"][1:])
    else:
        group["momentum"] = momentum
