"""The engine-agnostic snapshot interpolator."""

from __future__ import annotations

import pytest

from stdb_game.interpolation import SnapshotInterpolator, SnapshotShapeError, lerp, lerp_vec


def test_samples_between_snapshots_after_the_delay() -> None:
    it: SnapshotInterpolator[int, tuple[float, ...]] = SnapshotInterpolator(delay=0.1)
    it.push(1, (0.0, 0.0), now=1.00)
    it.push(1, (10.0, 20.0), now=1.05)
    assert it.sample(1, 1.10) == (0.0, 0.0)  # t = 1.00
    assert it.sample(1, 1.125) == pytest.approx((5.0, 10.0))  # halfway
    assert it.sample(1, 1.15) == pytest.approx((10.0, 20.0))


def test_extrapolation_is_capped_then_holds() -> None:
    it: SnapshotInterpolator[str, tuple[float, ...]] = SnapshotInterpolator(
        delay=0.0, max_extrapolation=0.05
    )
    it.push("a", (0.0,), now=0.0)
    it.push("a", (1.0,), now=0.1)
    assert it.sample("a", 0.125) == pytest.approx((1.25,))
    assert it.sample("a", 5.0) == pytest.approx((1.5,))  # capped at 0.05 s ahead


def test_unknown_entity_and_single_snapshot() -> None:
    it: SnapshotInterpolator[int, tuple[float, ...]] = SnapshotInterpolator()
    assert it.sample(9, 1.0) is None
    it.push(9, (3.0,), now=1.0)
    assert it.sample(9, 0.5) == (3.0,) and it.sample(9, 2.0) == (3.0,)
    it.remove(9)
    assert 9 not in it and len(it) == 0


def test_out_of_order_local_times_never_go_backwards() -> None:
    it: SnapshotInterpolator[int, tuple[float, ...]] = SnapshotInterpolator(delay=0.0)
    it.push(1, (0.0,), now=2.0)
    it.push(1, (4.0,), now=1.0)  # clamped to 2.0
    assert it.sample(1, 2.0) == (4.0,)
    assert lerp(2.0, 4.0, 0.25) == 2.5
    assert it.sample_all(2.0) == {1: (4.0,)}


def test_a_snapshot_of_another_length_is_refused_and_nothing_is_lost() -> None:
    it: SnapshotInterpolator[int, tuple[float, ...]] = SnapshotInterpolator(delay=0.0)
    it.push(1, (0.0, 0.0, 10.0), now=1.0)
    it.push(1, (2.0, 2.0, 12.0), now=2.0)
    with pytest.raises(SnapshotShapeError, match="length 2 after ones of length 3"):
        it.push(1, (4.0, 4.0), now=3.0)
    # The refused value was not stored: sampling still blends whole 3-tuples.
    assert it.sample(1, 1.5) == pytest.approx((1.0, 1.0, 11.0))
    assert it.sample(1, 2.0) == (2.0, 2.0, 12.0)
    it.remove(1)  # the way to change what an entity carries
    it.push(1, (4.0, 4.0), now=3.0)
    assert it.sample(1, 3.0) == (4.0, 4.0)


def test_lerp_vec_refuses_tuples_of_different_lengths() -> None:
    assert lerp_vec((0.0, 2.0), (2.0, 4.0), 0.5) == (1.0, 3.0)
    with pytest.raises(SnapshotShapeError):
        lerp_vec((0.0, 1.0, 2.0), (1.0, 2.0), 0.5)


def test_a_custom_blend_is_trusted_with_its_own_values() -> None:
    def pick(a: dict[str, float], b: dict[str, float], t: float) -> dict[str, float]:
        return b if t >= 0.5 else a

    it: SnapshotInterpolator[int, dict[str, float]] = SnapshotInterpolator(delay=0.0, blend=pick)
    it.push(1, {"x": 0.0}, now=0.0)
    it.push(1, {"x": 1.0, "y": 5.0}, now=1.0)  # no shape rule without lerp_vec
    assert it.sample(1, 0.75) == {"x": 1.0, "y": 5.0}
