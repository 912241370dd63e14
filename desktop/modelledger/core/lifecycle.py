"""Lifecycle rules: which stage changes are allowed and who may approve them.

Production is reached only through an approved promotion request (or a rollback to a version
that has been in production before); every other move is direct. Only one version of a model is
in production at a time: the service archives the previous one in the same transaction.
"""

from __future__ import annotations

from modelledger.core.domain import PromotionRequest, RequestStatus, Stage
from modelledger.core.errors import FourEyesError, LifecycleError

_DIRECT_MOVES: dict[Stage, frozenset[Stage]] = {
    Stage.DEVELOPMENT: frozenset({Stage.STAGING, Stage.ARCHIVED}),
    Stage.STAGING: frozenset({Stage.DEVELOPMENT, Stage.ARCHIVED}),
    Stage.PRODUCTION: frozenset({Stage.ARCHIVED}),
    Stage.ARCHIVED: frozenset({Stage.DEVELOPMENT, Stage.STAGING}),
}


def allowed_direct_moves(current: Stage) -> frozenset[Stage]:
    """The stages a version in ``current`` may move to without an approval."""
    return _DIRECT_MOVES[current]


def check_direct_move(current: Stage, target: Stage) -> None:
    """Raise unless ``current -> target`` may be done without an approval."""
    if target is Stage.PRODUCTION:
        raise LifecycleError(
            "A version reaches Production only through an approved promotion request: "
            "request a promotion and have it approved."
        )
    if current is target:
        raise LifecycleError(f"The version is already in {current.value}.")
    if target not in _DIRECT_MOVES[current]:
        allowed = ", ".join(sorted(stage.value for stage in _DIRECT_MOVES[current]))
        raise LifecycleError(
            f"A version in {current.value} cannot move to {target.value}; allowed: {allowed}."
        )


def check_promotion_request(current: Stage, has_pending_request: bool) -> None:
    """Raise unless a version in ``current`` may be proposed for Production."""
    if current is not Stage.STAGING:
        raise LifecycleError(
            f"Only a version in staging can be proposed for production; this one is in "
            f"{current.value}. Move it to staging first."
        )
    if has_pending_request:
        raise LifecycleError(
            "This version already has a pending promotion request: approve or reject it first."
        )


def check_decision(request: PromotionRequest, decider: str, four_eyes_required: bool) -> None:
    """Raise unless ``decider`` may approve or reject ``request``."""
    if request.status is not RequestStatus.PENDING:
        raise LifecycleError(
            f"Request #{request.id} was already {request.status.value} by {request.decided_by}."
        )
    if four_eyes_required and decider == request.requested_by:
        raise FourEyesError(
            f"{decider} requested this promotion and cannot also approve or reject it: "
            "ask another team member. A single-user workspace can turn off the four-eyes "
            "rule in its settings (the change is recorded in the audit log)."
        )


def check_approved_version_still_staged(current: Stage) -> None:
    if current is not Stage.STAGING:
        raise LifecycleError(
            f"The version left staging after the request was made (it is now in "
            f"{current.value}); reject the request and make a new one."
        )


def check_rollback(target_stage: Stage, was_in_production: bool) -> None:
    """Raise unless a version in ``target_stage`` may be rolled back to."""
    if target_stage is Stage.PRODUCTION:
        raise LifecycleError("That version is already in production.")
    if not was_in_production:
        raise LifecycleError(
            "Rollback returns to a version that has been in production before; this one never "
            "was. Use a promotion request instead."
        )
