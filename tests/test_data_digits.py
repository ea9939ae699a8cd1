"""The digits walkthrough of docs/data-remediation.md, as a test (needs scikit-learn)."""

from __future__ import annotations

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("pytest_airecovery.demo.build")


def test_spectral_remediation_removes_the_backdoor() -> None:
    from pytest_airecovery.demo.data_walkthrough import format_result, run_digits_walkthrough

    result = run_digits_walkthrough(seed=3)
    print(format_result(result))
    assert result.n_poison == round(0.1 * result.n_target)
    assert result.poisoned.attack_success > 0.5  # the backdoor took
    assert result.detection["recall"] == 1.0
    assert result.manifest_diff_is_exactly_removed
    # Attack success falls back to the clean model's level; clean accuracy within 1 point.
    assert result.retrained.attack_success <= result.clean.attack_success + 0.01
    assert abs(result.retrained.accuracy - result.clean.accuracy) <= 0.01
