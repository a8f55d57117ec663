"""The 2D-conditioned model that starts from the A-form floor: 2D sources, floor frames, identity at
initialisation (untrained output == floor, exactly), rigid-motion equivariance/invariance, features."""

import hashlib

import numpy as np
import pytest
import torch

from modeling_ssrlm.configuration_ssrlm import SSRLMConfig
from modeling_ssrlm.fold3d import SSRLMForStructurePrediction, SSRLMStructureConfig
from modeling_ssrlm.fold3d.data import StructureDataset, collate_structures
from modeling_ssrlm.fold3d.features import FLOOR_VERSION, ChainFeatures, FeatureCache, compute_features, features_batch
from modeling_ssrlm.fold3d.geometry import (
    AFORM_STEP,
    BASE_PAIR,
    DEFAULT_HELIX_EXTENSION,
    extend_helices,
    floor_frames,
    frames_to_atoms,
    purine_mask,
)
from modeling_ssrlm.fold3d.inference import fold_sequence
from modeling_ssrlm.fold3d.losses import smooth_lddt_loss
from modeling_ssrlm.fold3d.pdb_io import ATOM_INDEX, ATOM_NAMES, RNAChain
from modeling_ssrlm.fold3d.rigid import Rigid, random_rotation
from modeling_ssrlm.fold3d.secondary import (
    SecondaryStructure,
    SecondaryStructureSource,
    ViennaRNASource,
    available_sources,
    get_source,
    register_source,
)

HAIRPINS = "GGGCGAAAGCCCAUAUGGGGAAACCCCA"
PAIRS = [(0, 11), (1, 10), (2, 9), (3, 8), (16, 25), (17, 24), (18, 23), (19, 22)]
FLOOR_STEPS = 60


class FixedSource:
    """A deterministic 2D source for tests: the given pairs with probability 0.9, 0.01 elsewhere."""

    name = "fixed"

    def __init__(self, pairs=()):
        self.pairs = list(pairs)

    def __call__(self, sequence):
        length = len(sequence)
        probabilities = np.full((length, length), 0.01, np.float32)
        pairs = [(i, j) for i, j in self.pairs if j < length]
        for i, j in pairs:
            probabilities[i, j] = probabilities[j, i] = 0.9
        return SecondaryStructure(probabilities, pairs)


def floor_config(**overrides) -> SSRLMStructureConfig:
    encoder = SSRLMConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    settings = dict(encoder_config=encoder.to_dict(), use_encoder=False, single_dim=16, pair_dim=8,
                    outer_product_dim=4, num_trunk_blocks=1, num_trunk_heads=2, num_ipa_heads=2, ipa_head_dim=4,
                    ipa_query_points=2, ipa_value_points=2, num_structure_iterations=2, floor_steps=FLOOR_STEPS,
                    smooth_lddt_weight=1.0)
    settings.update(overrides)
    return SSRLMStructureConfig(**settings)


@pytest.fixture(scope="module")
def batch():
    source = FixedSource(PAIRS)
    features = [compute_features(HAIRPINS, source, FLOOR_STEPS), compute_features(HAIRPINS[:14], source, FLOOR_STEPS)]
    return features, features_batch(features)


def perturbed(model: SSRLMForStructurePrediction) -> SSRLMForStructurePrediction:
    """Move the zero-initialised update so that the network's output differs from the floor."""
    torch.nn.init.normal_(model.structure_module.backbone_update.weight, std=0.2)
    return model


def global_transform(seed: int) -> Rigid:
    generator = torch.Generator().manual_seed(seed)
    return Rigid(random_rotation(generator=generator), 30 * torch.randn(3, generator=generator))


# --------------------------------------------------------------------------- sources


def test_source_interface_registry_and_validation():
    register_source("fixed", lambda argument: FixedSource(PAIRS))
    assert "fixed" in available_sources() and "viennarna" in available_sources()
    source = get_source("fixed")
    assert isinstance(source, SecondaryStructureSource)
    assert get_source(source) is source
    structure = source(HAIRPINS)
    assert len(structure) == len(HAIRPINS) and structure.pairs == sorted(PAIRS)
    with pytest.raises(ValueError, match="unknown secondary-structure source"):
        get_source("no-such-source")
    with pytest.raises(ValueError, match="already paired"):
        SecondaryStructure(np.zeros((4, 4)), [(0, 3), (1, 3)])
    with pytest.raises(ValueError, match="out of range"):
        SecondaryStructure(np.zeros((4, 4)), [(0, 4)])


def test_viennarna_source_gives_probabilities_and_mfe_pairs():
    structure = get_source("viennarna")("GGGGAAAACCCC")
    assert isinstance(get_source("viennarna"), ViennaRNASource)
    probabilities = structure.probabilities
    assert probabilities.shape == (12, 12) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities, probabilities.T)
    assert probabilities.min() >= 0 and probabilities.sum(axis=1).max() <= 1 + 1e-5
    assert structure.pairs == [(0, 11), (1, 10), (2, 9), (3, 8)]
    assert all(probabilities[i, j] > 0.5 for i, j in structure.pairs)


# --------------------------------------------------------------------------- floor


def test_floor_helices_are_ideal_right_handed_a_form_and_deterministic():
    frames = floor_frames(HAIRPINS, PAIRS, FLOOR_STEPS)
    again = floor_frames(HAIRPINS, PAIRS, FLOOR_STEPS)
    assert torch.equal(frames.rots, again.rots) and torch.equal(frames.trans, again.trans)
    assert frames.shape == (len(HAIRPINS),)
    torch.testing.assert_close(torch.linalg.det(frames.rots), torch.ones(len(HAIRPINS)))
    f = Rigid(frames.rots.double(), frames.trans.double())

    def relative(i, j):
        return Rigid(f.rots[i], f.trans[i]).invert().compose(Rigid(f.rots[j], f.trans[j]))

    for i, j in PAIRS:  # across every pair: the ideal Watson-Crick transform
        torch.testing.assert_close(relative(i, j).trans, BASE_PAIR.trans, atol=1e-3, rtol=0)
        torch.testing.assert_close(relative(i, j).rots, BASE_PAIR.rots, atol=1e-4, rtol=0)
    for i in (0, 1, 2, 16, 17, 18):  # along each 5' strand: the ideal A-form step
        torch.testing.assert_close(relative(i, i + 1).trans, AFORM_STEP.trans, atol=1e-3, rtol=0)
    atoms = frames_to_atoms(frames, torch.from_numpy(purine_mask(HAIRPINS)))
    bond = (atoms[:-1, ATOM_INDEX["O3'"]] - atoms[1:, ATOM_INDEX["P"]]).norm(dim=-1)
    assert bond[[0, 1, 2, 16, 17, 18]].max() < 2.0  # helices are covalently continuous
    steps = (frames.trans[1:] - frames.trans[:-1]).norm(dim=-1)
    assert steps.min() > 4.0 and steps.max() < 8.0  # loops keep the chain connected


def test_floor_without_pairs_and_tiny_inputs():
    assert floor_frames("", [], 5).shape == (0,)
    single = floor_frames("A", [], 5)
    torch.testing.assert_close(single.rots, torch.eye(3)[None])
    frames = floor_frames("ACGUA", [], 20)
    torch.testing.assert_close(torch.linalg.det(frames.rots), torch.ones(5))
    with pytest.raises(ValueError, match="already paired"):
        floor_frames("GGGAAACCC", [(0, 8), (0, 7)], 5)


def test_extend_helices_grows_each_helix_end_by_stacked_pairs():
    length = len(HAIRPINS)
    # hairpin 1 (0-3 / 8-11) closes GAAA: (4, 7) G·A encloses two bases; its outer end is the chain's.
    # hairpin 2 (16-19 / 22-25) closes GA: (20, 21) would enclose none; outwards (15, 26) then (14, 27).
    assert extend_helices(length, PAIRS, 0) == sorted(PAIRS)
    assert extend_helices(length, PAIRS, 1) == sorted(PAIRS + [(4, 7), (15, 26)])
    assert extend_helices(length, PAIRS, 2) == sorted(PAIRS + [(4, 7), (15, 26), (14, 27)])
    assert extend_helices(length, PAIRS, 5) == extend_helices(length, PAIRS, 2)  # nothing left to grow into
    # two candidates want base 10: the first in sorted order, (1, 10), takes it
    assert extend_helices(20, [(2, 9), (11, 18)], 1) == [(1, 10), (2, 9), (3, 8), (11, 18), (12, 17)]
    with pytest.raises(ValueError, match="rounds must be >= 0"):
        extend_helices(length, PAIRS, -1)
    with pytest.raises(ValueError, match="already paired"):
        extend_helices(10, [(0, 8), (0, 7)], 1)


def test_floor_with_helix_extension_places_the_extension_pairs_as_helix():
    extended = extend_helices(len(HAIRPINS), PAIRS, DEFAULT_HELIX_EXTENSION)
    frames = floor_frames(HAIRPINS, PAIRS, FLOOR_STEPS, DEFAULT_HELIX_EXTENSION)
    same = floor_frames(HAIRPINS, extended, FLOOR_STEPS)
    assert torch.equal(frames.rots, same.rots) and torch.equal(frames.trans, same.trans)
    plain = floor_frames(HAIRPINS, PAIRS, FLOOR_STEPS)
    assert not torch.allclose(frames.trans, plain.trans)
    f = Rigid(frames.rots.double(), frames.trans.double())
    for i, j in [(4, 7), (15, 26), (14, 27)]:  # the extension pairs sit across the ideal base-pair transform
        relative = Rigid(f.rots[i], f.trans[i]).invert().compose(Rigid(f.rots[j], f.trans[j]))
        torch.testing.assert_close(relative.trans, BASE_PAIR.trans, atol=1e-3, rtol=0)


# --------------------------------------------------------------------------- model: identity at init


def test_update_layer_is_zero_initialised():
    model = SSRLMForStructurePrediction(floor_config())
    assert torch.count_nonzero(model.structure_module.backbone_update.weight) == 0
    assert torch.count_nonzero(model.structure_module.backbone_update.bias) == 0


@pytest.mark.parametrize("overrides", [{}, {"use_encoder": True, "num_recycles": 1}])
def test_untrained_model_outputs_the_floor_exactly(batch, overrides):
    features, inputs = batch
    torch.manual_seed(0)
    model = SSRLMForStructurePrediction(floor_config(**overrides)).eval()
    with torch.no_grad():
        output = model(**inputs)
    assert torch.equal(output.frame_translations, inputs["floor_translations"])
    assert torch.equal(output.frame_rotations, inputs["floor_rotations"])
    assert torch.equal(output.positions, output.floor_positions)
    for row, feature in enumerate(features):
        n = len(feature.sequence)
        floor = Rigid(torch.from_numpy(feature.floor_rotations), torch.from_numpy(feature.floor_translations))
        expected = frames_to_atoms(floor, torch.from_numpy(purine_mask(feature.sequence)))
        assert torch.equal(output.positions[row, :n], expected)
    assert output.floor_plddt.shape == output.plddt.shape == (2, len(HAIRPINS))


def test_network_and_floor_modes_agree_before_training():
    source = FixedSource(PAIRS)
    model = SSRLMForStructurePrediction(floor_config(floor_helix_extension=DEFAULT_HELIX_EXTENSION))
    network = fold_sequence(HAIRPINS, model, "network", source)
    floor = fold_sequence(HAIRPINS, model, "floor", source)
    without_model = fold_sequence(HAIRPINS, None, "floor", source, FLOOR_STEPS)  # the default extension
    np.testing.assert_array_equal(network.positions, floor.positions)
    np.testing.assert_array_equal(floor.positions, without_model.positions)
    assert without_model.plddt is None and network.plddt.shape == (len(HAIRPINS),)
    c4 = floor_frames(HAIRPINS, PAIRS, FLOOR_STEPS, DEFAULT_HELIX_EXTENSION).trans.numpy()
    np.testing.assert_array_equal(floor.positions[:, ATOM_INDEX["C4'"]], c4)
    old_folder = SSRLMForStructurePrediction(floor_config())  # saved before the field: no extension
    old_floor = fold_sequence(HAIRPINS, old_folder, "floor", source)
    np.testing.assert_array_equal(old_floor.positions[:, ATOM_INDEX["C4'"]], floor_frames(HAIRPINS, PAIRS, FLOOR_STEPS).trans)
    with pytest.raises(ValueError, match="needs a model"):
        fold_sequence(HAIRPINS, None, "network", source)


def test_missing_features_raise_a_clear_error(batch):
    _, inputs = batch
    model = SSRLMForStructurePrediction(floor_config())
    with pytest.raises(ValueError, match="compute the inputs with"):
        model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
    bad = dict(inputs, ss_pairs=inputs["ss_pairs"][:, :3])
    with pytest.raises(ValueError, match="ss_pairs must have shape"):
        model(**bad)


# --------------------------------------------------------------------------- invariance


def test_output_follows_a_rigid_motion_of_the_floor(batch):
    _, inputs = batch
    torch.manual_seed(1)
    model = perturbed(SSRLMForStructurePrediction(floor_config())).eval()
    g = global_transform(2)
    moved = dict(inputs, floor_rotations=g.rots @ inputs["floor_rotations"],
                 floor_translations=g.apply(inputs["floor_translations"]))
    with torch.no_grad():
        reference, output = model(**inputs), model(**moved)
    assert not torch.allclose(reference.positions, reference.floor_positions, atol=1e-2)  # not the floor
    torch.testing.assert_close(output.positions, g.apply(reference.positions), atol=2e-3, rtol=0)
    torch.testing.assert_close(output.plddt, reference.plddt, atol=1e-4, rtol=0)
    torch.testing.assert_close(output.floor_plddt, reference.floor_plddt, atol=1e-4, rtol=0)
    torch.testing.assert_close(output.distogram_logits, reference.distogram_logits, atol=1e-4, rtol=0)


def test_losses_are_invariant_to_a_rigid_motion_of_the_reference(batch):
    _, inputs = batch
    torch.manual_seed(3)
    model = perturbed(SSRLMForStructurePrediction(floor_config())).eval()
    generator = torch.Generator().manual_seed(4)
    with torch.no_grad():
        start = model(**inputs).positions
    coords = start + torch.randn(start.shape, generator=generator)
    atom_mask = torch.ones(coords.shape[:-1])
    atom_mask[1, 14:] = 0
    g = global_transform(5)
    with torch.no_grad():
        reference = model(**inputs, coords=coords, atom_mask=atom_mask)
        moved = model(**inputs, coords=g.apply(coords), atom_mask=atom_mask)
    for name in ("loss", "fape_loss", "smooth_lddt_loss", "distogram_loss", "plddt_loss", "floor_plddt_loss"):
        torch.testing.assert_close(getattr(moved, name), getattr(reference, name), atol=2e-4, rtol=0)


def test_training_step_moves_the_network_away_from_the_floor(batch):
    _, inputs = batch
    torch.manual_seed(5)
    model = SSRLMForStructurePrediction(floor_config())
    with torch.no_grad():
        target = model(**inputs).positions + 1.0
    output = model(**inputs, coords=target, atom_mask=torch.ones(target.shape[:-1]))
    output.loss.backward()
    assert model.structure_module.backbone_update.weight.grad.abs().sum() > 0
    assert model.ss_pair.weight.grad.abs().sum() > 0 and model.floor_distance.weight.grad.abs().sum() > 0
    assert model.floor_plddt_head[-1].weight.grad.abs().sum() > 0


def test_smooth_lddt_loss_hand_value_and_ordering():
    generator = torch.Generator().manual_seed(0)
    points = 5 * torch.randn(1, 12, 3, generator=generator)
    mask = torch.ones(1, 12)
    sigmoid = torch.sigmoid(torch.tensor([0.5, 1.0, 2.0, 4.0])).mean()
    assert smooth_lddt_loss(points, points, mask).item() == pytest.approx(1 - sigmoid.item(), abs=1e-4)
    noisy = points + 2 * torch.randn(points.shape, generator=generator)
    assert smooth_lddt_loss(noisy, points, mask) > smooth_lddt_loss(points, points, mask)
    g = global_transform(6)
    torch.testing.assert_close(smooth_lddt_loss(g.apply(noisy), points, mask), smooth_lddt_loss(noisy, points, mask))


# --------------------------------------------------------------------------- features and data


def test_features_crop_cache_and_batch(tmp_path):
    source = FixedSource(PAIRS)
    features = compute_features(HAIRPINS, source, FLOOR_STEPS)
    assert features.pair_list() == sorted(PAIRS)
    crop = features.crop(2, 20)
    np.testing.assert_array_equal(crop.floor_translations, features.floor_translations[2:20])
    np.testing.assert_array_equal(crop.pairs, features.pairs[2:20, 2:20])
    cache = FeatureCache(tmp_path)
    first = cache.get(HAIRPINS, source, FLOOR_STEPS)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    second = cache.get(HAIRPINS, source, FLOOR_STEPS)
    np.testing.assert_array_equal(first.floor_rotations, second.floor_rotations)
    np.testing.assert_array_equal(first.floor_translations, features.floor_translations)
    batch = features_batch([features, crop])
    assert batch["ss_probabilities"].shape == (2, len(HAIRPINS), len(HAIRPINS))
    torch.testing.assert_close(batch["floor_rotations"][1, 18:], torch.eye(3).expand(len(HAIRPINS) - 18, 3, 3))
    assert batch["floor_translations"][1, 18:].abs().sum() == 0
    with pytest.raises(ValueError, match="floor_rotations must have shape"):
        ChainFeatures("ACGU", np.zeros((4, 4)), np.zeros((4, 4)), np.zeros((3, 3, 3)), np.zeros((4, 3)))
    # the helix extension changes the floor, not the 2D channels, and is cached under its own key
    extended = cache.get(HAIRPINS, source, FLOOR_STEPS, helix_extension=2)
    assert len(list(tmp_path.glob("*.npz"))) == 2 and extended.pair_list() == sorted(PAIRS)
    np.testing.assert_array_equal(extended.probabilities, features.probabilities)
    np.testing.assert_array_equal(
        extended.floor_translations, floor_frames(HAIRPINS, PAIRS, FLOOR_STEPS, 2).trans.numpy()
    )
    legacy = hashlib.sha1(f"{FLOOR_VERSION}|fixed|{FLOOR_STEPS}|{HAIRPINS}".encode()).hexdigest()
    assert cache.path(HAIRPINS, "fixed", FLOOR_STEPS, 0).name == f"{legacy}.npz"  # caches from before stay valid


def test_dataset_crops_features_with_the_coordinates():
    source = FixedSource(PAIRS)
    features = compute_features(HAIRPINS, source, FLOOR_STEPS)
    length = len(HAIRPINS)
    coords = np.arange(length * len(ATOM_NAMES) * 3, dtype=np.float32).reshape(length, len(ATOM_NAMES), 3)
    chain = RNAChain("hairpins", HAIRPINS.replace("T", "U"), coords, np.ones((length, len(ATOM_NAMES)), bool))
    dataset = StructureDataset([chain], [features], crop_length=10, seed=0)
    item = dataset[0]
    start = int(item["coords"][0, 0, 0]) // (len(ATOM_NAMES) * 3)
    torch.testing.assert_close(item["floor_translations"], torch.from_numpy(features.floor_translations[start:start + 10]))
    torch.testing.assert_close(item["ss_pairs"], torch.from_numpy(features.pairs[start:start + 10, start:start + 10]))
    batch = collate_structures([item, dataset[0]])
    assert batch["floor_rotations"].shape == (2, 10, 3, 3) and batch["coords"].shape == (2, 10, len(ATOM_NAMES), 3)
    with pytest.raises(ValueError, match="another sequence"):
        StructureDataset([chain], [features.crop(0, 5)])


def test_pair_model_source_plugs_in(tmp_path):
    from modeling_ssrlm.modeling_ssrlm_pair import SSRLMForPairPrediction

    config = SSRLMConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    SSRLMForPairPrediction(config).save_pretrained(tmp_path / "pair")
    source = get_source(f"pair-model:{tmp_path / 'pair'}")
    assert source.name == f"pair-model:{tmp_path / 'pair'}"
    structure = source(HAIRPINS)
    assert structure.probabilities.shape == (len(HAIRPINS), len(HAIRPINS))
    partners = [residue for pair in structure.pairs for residue in pair]
    assert len(partners) == len(set(partners))
    features = compute_features(HAIRPINS, source, 5)
    assert features.floor_translations.shape == (len(HAIRPINS), 3)
