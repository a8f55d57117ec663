"""Structure model: forward/backward, IPA and FAPE invariance, geometry, save/load round trip."""

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModel

from modeling_ssrlm.configuration_ssrlm import SSRLMConfig
from modeling_ssrlm.fold3d import SSRLMForStructurePrediction, SSRLMStructureConfig
from modeling_ssrlm.fold3d.geometry import (
    AFORM_STEP,
    BASE_PAIR,
    IDEAL_LOCAL_COORDS,
    aform_helix_frames,
    frames_to_atoms,
    secondary_structure_baseline,
)
from modeling_ssrlm.fold3d.ipa import InvariantPointAttention
from modeling_ssrlm.fold3d.losses import distogram_loss, fape
from modeling_ssrlm.fold3d.pdb_io import ATOM_INDEX, ATOM_NAMES
from modeling_ssrlm.fold3d.rigid import Rigid, random_rotation
from modeling_ssrlm.tokenization_ssrlm import SSRLMTokenizer

N_ATOMS = len(ATOM_NAMES)


def tiny_config(**overrides) -> SSRLMStructureConfig:
    """The sequence-only model of issue 5 (no 2D, identity start); the floor model is in test_fold3d_floor."""
    encoder = SSRLMConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32)
    settings = dict(encoder_config=encoder.to_dict(), single_dim=16, pair_dim=8, outer_product_dim=4,
                    num_trunk_blocks=1, num_trunk_heads=2, num_ipa_heads=2, ipa_head_dim=4,
                    ipa_query_points=2, ipa_value_points=2, num_structure_iterations=2,
                    use_secondary_structure=False, start_from_floor=False, use_floor_distances=False)
    settings.update(overrides)
    return SSRLMStructureConfig(**settings)


def batch_inputs(sequences=("ACGUAGGCUA", "GGCCAAU")):
    batch = SSRLMTokenizer()(list(sequences), padding=True, return_tensors="pt")
    length = batch["input_ids"].shape[1] - 2
    generator = torch.Generator().manual_seed(0)
    coords = 8 * torch.randn(len(sequences), length, N_ATOMS, 3, generator=generator)
    atom_mask = torch.zeros(len(sequences), length, N_ATOMS)
    for row, sequence in enumerate(sequences):
        atom_mask[row, : len(sequence)] = 1
    return batch["input_ids"], batch["attention_mask"], coords, atom_mask


def global_transform(seed: int) -> Rigid:
    generator = torch.Generator().manual_seed(seed)
    return Rigid(random_rotation(generator=generator, dtype=torch.float64), 30 * torch.randn(3, generator=generator,
                                                                                             dtype=torch.float64))


@pytest.mark.parametrize("overrides", [{}, {"num_recycles": 1, "use_attention_maps": True}])
def test_forward_backward_trains_heads_not_encoder(overrides):
    torch.manual_seed(0)
    model = SSRLMForStructurePrediction(tiny_config(**overrides))
    input_ids, attention_mask, coords, atom_mask = batch_inputs()
    output = model(input_ids=input_ids, attention_mask=attention_mask, coords=coords, atom_mask=atom_mask)
    assert output.positions.shape == (2, 10, N_ATOMS, 3)
    assert output.plddt.shape == (2, 10) and bool(((output.plddt > 0) & (output.plddt < 1)).all())
    assert output.distogram_logits.shape == (2, 10, 10, 40)
    torch.testing.assert_close(output.residue_mask[1], torch.tensor([1.0] * 7 + [0.0] * 3))
    assert torch.isfinite(output.loss)
    output.loss.backward()
    assert all(p.grad is None for p in model.model.parameters())
    assert model.structure_module.backbone_update.weight.grad.abs().sum() > 0
    assert model.single_embed.weight.grad.abs().sum() > 0


def test_untrained_model_starts_all_frames_at_identity():
    model = SSRLMForStructurePrediction(tiny_config())
    input_ids, attention_mask, _, _ = batch_inputs(("ACGU",))
    output = model(input_ids=input_ids, attention_mask=attention_mask)
    torch.testing.assert_close(output.frame_translations, torch.zeros(1, 4, 3))
    # identity frames place purines and pyrimidines at their ideal local coordinates
    torch.testing.assert_close(output.positions[0, 0], torch.from_numpy(IDEAL_LOCAL_COORDS[1]))
    torch.testing.assert_close(output.positions[0, 1], torch.from_numpy(IDEAL_LOCAL_COORDS[0]))


def test_ipa_is_invariant_to_global_rigid_motion():
    torch.manual_seed(0)
    ipa = InvariantPointAttention(single_dim=8, pair_dim=4, num_heads=2, head_dim=4,
                                  num_query_points=3, num_value_points=3).double()
    single, pair = torch.randn(2, 6, 8, dtype=torch.float64), torch.randn(2, 6, 6, 4, dtype=torch.float64)
    frames = Rigid(random_rotation(2, 6, dtype=torch.float64), 10 * torch.randn(2, 6, 3, dtype=torch.float64))
    mask = torch.tensor([[1.0] * 6, [1.0] * 4 + [0.0] * 2], dtype=torch.float64)
    moved = global_transform(1).compose(frames)
    torch.testing.assert_close(ipa(single, pair, moved, mask), ipa(single, pair, frames, mask))
    # and it is not trivially constant: moving one residue's frame changes the output
    shifted = Rigid(frames.rots, frames.trans + torch.tensor([5.0, 0, 0], dtype=torch.float64) * (
        torch.arange(6) == 0).to(torch.float64)[None, :, None])
    assert not torch.allclose(ipa(single, pair, shifted, mask), ipa(single, pair, frames, mask))


def test_fape_invariance_and_hand_values():
    generator = torch.Generator().manual_seed(2)
    frames = Rigid(random_rotation(1, 5, generator=generator, dtype=torch.float64),
                   5 * torch.randn(1, 5, 3, generator=generator, dtype=torch.float64))
    atoms = 5 * torch.randn(1, 5, 3, 3, generator=generator, dtype=torch.float64)
    frame_mask, atom_mask = torch.ones(1, 5), torch.ones(1, 5, 3)
    assert fape(frames, atoms, frames, atoms, frame_mask, atom_mask).item() == pytest.approx(0.0, abs=1e-3)
    noisy = atoms + torch.randn(atoms.shape, generator=generator, dtype=torch.float64)
    reference = fape(frames, noisy, frames, atoms, frame_mask, atom_mask)
    g = global_transform(3)
    moved = fape(frames, noisy, g.compose(frames), g.apply(atoms), frame_mask, atom_mask)
    torch.testing.assert_close(moved, reference)
    # one identity frame, one atom 3 Å off: 3 / 10; 20 Å off is clamped to 10 / 10
    identity = Rigid.identity(1, 1, dtype=torch.float64)
    origin = torch.zeros(1, 1, 3, dtype=torch.float64)
    for shift, expected in ((3.0, 0.3), (20.0, 1.0)):
        moved_atom = origin + torch.tensor([shift, 0.0, 0.0], dtype=torch.float64)
        value = fape(identity, moved_atom, identity, origin, torch.ones(1, 1), torch.ones(1, 1))
        assert value.item() == pytest.approx(expected, abs=1e-4)


def test_distogram_loss_prefers_the_true_bin():
    points = torch.tensor([[[0.0, 0, 0], [5.5, 0, 0]]])
    logits = torch.zeros(1, 2, 2, 40)
    uniform = distogram_loss(logits, points, torch.ones(1, 2), 2.0, 40.0)
    assert uniform.item() == pytest.approx(np.log(40))
    # inner edges linspace(2, 40, 39) = 2, 3, 4, ... Å; bin k holds (edge k-1, edge k], so 5.5 Å is bin 4
    logits[..., 4] = 10.0
    expected = np.log1p(39 * np.exp(-10.0))  # -log softmax of the true bin
    assert distogram_loss(logits, points, torch.ones(1, 2), 2.0, 40.0).item() == pytest.approx(expected, rel=1e-3)


def test_ideal_geometry_is_consistent():
    atoms = torch.from_numpy(IDEAL_LOCAL_COORDS).double()
    for residue in atoms:
        frame = Rigid.from_3_points(residue[ATOM_INDEX["P"]], residue[ATOM_INDEX["C4'"]], residue[ATOM_INDEX["N"]])
        torch.testing.assert_close(frame.rots, torch.eye(3, dtype=torch.float64), atol=2e-3, rtol=0)
        torch.testing.assert_close(frame.trans, torch.zeros(3, dtype=torch.float64))
    helix = aform_helix_frames(3)
    positions = frames_to_atoms(helix, torch.tensor([True, False, True]))
    o3_to_p = (positions[0, ATOM_INDEX["O3'"]] - positions[1, ATOM_INDEX["P"]]).norm()
    assert 1.2 < o3_to_p.item() < 2.0  # consecutive ideal residues are covalently connected
    assert AFORM_STEP.trans.norm().item() == pytest.approx(6.0, abs=0.01)
    assert BASE_PAIR.trans.norm().item() == pytest.approx(14.8, abs=0.01)


def test_secondary_structure_baseline_builds_a_hairpin():
    sequence = "GGGGAAAACCCC"
    pairs = [(0, 11), (1, 10), (2, 9), (3, 8)]
    coords = secondary_structure_baseline(sequence, pairs)
    distances = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    for i, j in pairs:
        assert distances[i, j] == pytest.approx(14.8, abs=1.0)
    np.testing.assert_allclose(np.diagonal(distances, 1), 6.0, atol=1.0)
    with pytest.raises(ValueError, match="out of range"):
        secondary_structure_baseline("GGAA", [(0, 7)])


def test_save_load_round_trip_and_auto_classes(tmp_path):
    torch.manual_seed(0)
    model = SSRLMForStructurePrediction(tiny_config()).eval()
    # move the zero-initialised backbone update so the round trip compares non-trivial outputs
    torch.nn.init.normal_(model.structure_module.backbone_update.weight, std=0.1)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    input_ids, attention_mask, _, _ = batch_inputs()
    with torch.no_grad():
        expected = model(input_ids=input_ids, attention_mask=attention_mask)
    loaded = SSRLMForStructurePrediction.from_pretrained(tmp_path).eval()
    assert isinstance(loaded.config.encoder_config, SSRLMConfig)
    assert not any(p.requires_grad for p in loaded.model.parameters())
    with torch.no_grad():
        actual = loaded(input_ids=input_ids, attention_mask=attention_mask)
    torch.testing.assert_close(actual.positions, expected.positions)
    torch.testing.assert_close(actual.plddt, expected.plddt)
    assert isinstance(AutoConfig.from_pretrained(tmp_path), SSRLMStructureConfig)
    assert isinstance(AutoModel.from_pretrained(tmp_path), SSRLMForStructurePrediction)


def test_invalid_config_and_inputs_raise():
    with pytest.raises(ValueError, match="single_dim"):
        tiny_config(single_dim=15)
    with pytest.raises(ValueError, match="floor_helix_extension must be >= 0"):
        tiny_config(floor_helix_extension=-1)
    model = SSRLMForStructurePrediction(tiny_config())
    with pytest.raises(ValueError, match="input_ids"):
        model(input_ids=torch.tensor([[2, 3]]))
    input_ids, attention_mask, coords, _ = batch_inputs()
    with pytest.raises(ValueError, match="coords"):
        model(input_ids=input_ids, attention_mask=attention_mask, coords=coords[:, :3])
