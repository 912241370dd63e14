from datetime import UTC, datetime

import pytest

from modelledger.core import lifecycle
from modelledger.core.domain import PromotionRequest, RequestStatus, Stage
from modelledger.core.errors import FourEyesError, LifecycleError


def request(status=RequestStatus.PENDING, requested_by="alice"):
    return PromotionRequest(1, "m", 1, Stage.PRODUCTION, requested_by, datetime.now(UTC), "r",
                            status, None, None, None)


@pytest.mark.parametrize(("current", "target"), [
    (Stage.DEVELOPMENT, Stage.STAGING), (Stage.STAGING, Stage.ARCHIVED),
    (Stage.PRODUCTION, Stage.ARCHIVED), (Stage.ARCHIVED, Stage.STAGING),
])
def test_allowed_direct_moves(current, target):
    lifecycle.check_direct_move(current, target)


@pytest.mark.parametrize("current", list(Stage))
def test_production_is_never_a_direct_move(current):
    with pytest.raises(LifecycleError, match="promotion request"):
        lifecycle.check_direct_move(current, Stage.PRODUCTION)


def test_production_cannot_go_back_to_development_directly():
    with pytest.raises(LifecycleError, match="allowed: archived"):
        lifecycle.check_direct_move(Stage.PRODUCTION, Stage.DEVELOPMENT)


def test_only_staging_versions_can_be_proposed():
    lifecycle.check_promotion_request(Stage.STAGING, has_pending_request=False)
    with pytest.raises(LifecycleError, match="staging first"):
        lifecycle.check_promotion_request(Stage.DEVELOPMENT, has_pending_request=False)
    with pytest.raises(LifecycleError, match="pending"):
        lifecycle.check_promotion_request(Stage.STAGING, has_pending_request=True)


def test_four_eyes():
    with pytest.raises(FourEyesError):
        lifecycle.check_decision(request(), "alice", four_eyes_required=True)
    lifecycle.check_decision(request(), "bob", four_eyes_required=True)
    lifecycle.check_decision(request(), "alice", four_eyes_required=False)


def test_decided_request_cannot_be_decided_again():
    with pytest.raises(LifecycleError, match="already approved"):
        lifecycle.check_decision(request(RequestStatus.APPROVED), "bob", True)


def test_rollback_needs_a_former_production_version():
    lifecycle.check_rollback(Stage.ARCHIVED, was_in_production=True)
    with pytest.raises(LifecycleError, match="never"):
        lifecycle.check_rollback(Stage.ARCHIVED, was_in_production=False)
    with pytest.raises(LifecycleError, match="already"):
        lifecycle.check_rollback(Stage.PRODUCTION, was_in_production=True)
