"""Rigid-body maths of the structure module: quaternions, composition, inverse, frames from points."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from modeling_ssrlm.fold3d.rigid import Rigid, quaternion_multiply, quaternion_to_rotation, random_rotation



@pytest.fixture(autouse=True, scope="module")
def float64_default():
    """Compare in double precision; restore the default dtype for other test modules."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


quaternions = st.lists(st.floats(-1, 1, allow_nan=False), min_size=4, max_size=4).filter(
    lambda q: sum(v * v for v in q) > 1e-2
)


def random_rigid(*shape: int, seed: int = 0) -> Rigid:
    generator = torch.Generator().manual_seed(seed)
    return Rigid(random_rotation(*shape, generator=generator, dtype=torch.float64),
                 10 * torch.randn(*shape, 3, generator=generator))


@settings(max_examples=100, deadline=None)
@given(quaternions)
def test_quaternion_gives_proper_rotation(q):
    rotation = quaternion_to_rotation(torch.tensor(q))
    torch.testing.assert_close(rotation @ rotation.T, torch.eye(3))
    assert torch.linalg.det(rotation).item() == pytest.approx(1.0)


def test_quaternion_hand_case_quarter_turn_about_z():
    half = math.pi / 4
    rotation = quaternion_to_rotation(torch.tensor([math.cos(half), 0.0, 0.0, math.sin(half)]))
    torch.testing.assert_close(rotation @ torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]))
    torch.testing.assert_close(rotation @ torch.tensor([0.0, 0.0, 2.0]), torch.tensor([0.0, 0.0, 2.0]))


@settings(max_examples=100, deadline=None)
@given(quaternions, quaternions)
def test_quaternion_product_matches_matrix_product(q1, q2):
    q1, q2 = torch.tensor(q1), torch.tensor(q2)
    torch.testing.assert_close(
        quaternion_to_rotation(quaternion_multiply(q1, q2)), quaternion_to_rotation(q1) @ quaternion_to_rotation(q2)
    )


def test_compose_applies_right_transform_first():
    a, b = random_rigid(5, seed=1), random_rigid(5, seed=2)
    points = torch.randn(5, 3)
    torch.testing.assert_close(a.compose(b).apply(points), a.apply(b.apply(points)))


def test_compose_is_associative():
    a, b, c = random_rigid(4, seed=1), random_rigid(4, seed=2), random_rigid(4, seed=3)
    left, right = a.compose(b).compose(c), a.compose(b.compose(c))
    torch.testing.assert_close(left.rots, right.rots)
    torch.testing.assert_close(left.trans, right.trans)


def test_inverse_gives_identity_and_matches_invert_apply():
    frames = random_rigid(3, 7, seed=4)
    identity = frames.compose(frames.invert())
    torch.testing.assert_close(identity.rots, torch.eye(3).expand(3, 7, 3, 3))
    torch.testing.assert_close(identity.trans, torch.zeros(3, 7, 3))
    points = torch.randn(3, 7, 3)
    torch.testing.assert_close(frames.invert_apply(points), frames.invert().apply(points))
    torch.testing.assert_close(frames.invert_apply(frames.apply(points)), points)


def test_from_3_points_hand_case():
    origin = torch.tensor([1.0, 2.0, 3.0])
    frame = Rigid.from_3_points(origin + torch.tensor([1.0, 3.0, 0.0]), origin, origin + torch.tensor([2.0, 0.0, 0.0]))
    torch.testing.assert_close(frame.rots, torch.eye(3))
    torch.testing.assert_close(frame.trans, origin)


def test_from_3_points_is_equivariant():
    generator = torch.Generator().manual_seed(5)
    x1, x2, x3 = torch.randn(3, 6, 3, generator=generator)
    transform = random_rigid(seed=6)
    frame = Rigid.from_3_points(x1, x2, x3)
    moved = Rigid.from_3_points(transform.apply(x1), transform.apply(x2), transform.apply(x3))
    expected = transform.compose(frame)  # the global transform broadcasts over the 6 frames
    torch.testing.assert_close(moved.rots, expected.rots)
    torch.testing.assert_close(moved.trans, expected.trans)


def test_zero_quaternion_update_is_identity():
    update = Rigid.from_quaternion_update(torch.zeros(2, 6))
    torch.testing.assert_close(update.rots, torch.eye(3).expand(2, 3, 3))
    torch.testing.assert_close(update.trans, torch.zeros(2, 3))


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="rots"):
        Rigid(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="batch shapes"):
        Rigid(torch.zeros(2, 3, 3), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="last dimension 4"):
        quaternion_to_rotation(torch.zeros(3))
