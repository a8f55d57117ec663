"""Ideal nucleotide geometry in the local residue frame, and the A-form baseline builder.

Residue frame: ``Rigid.from_3_points(P, C4', N)`` with ``N`` the glycosidic nitrogen (N9 of
purines, N1 of pyrimidines). The origin is C4', the x axis points to N, P lies in the xy plane
(y > 0). The structure module predicts one such frame per nucleotide; atoms are placed at the
fixed local coordinates below.

How the constants were derived (once, not at run time): every residue with P, C4' and N present
in the 27 RNAsolo natives of State-of-the-RNArt whose RNApolis dot-bracket matches the parsed
sequence (1,488 purines, 1,114 pyrimidines; `shared/data/rna3d/state_of_the_rnart_natives.tar.gz`)
was put into its own frame and the per-coordinate median taken. The root-mean-square deviation of
residues from these ideal positions is 0.3 Å (C1', O4') to 0.8 Å (P, O3') and 1.1-1.4 Å for the
non-bridging phosphate oxygens, which is the price of one rigid body per nucleotide (no torsions).
``AFORM_STEP`` is the mean frame-to-frame transform ``F_i^-1 ∘ F_i+1`` over the 1,150 stacked
steps inside helices of the same files (rotation 33.5°, C4'-C4' 6.0 Å), and ``BASE_PAIR`` the mean
``F_i^-1 ∘ F_j`` over their 733 canonical Watson-Crick pairs (C4'-C4' 14.8 Å); mean rotations were
projected back onto SO(3) by SVD.
"""

from __future__ import annotations

import numpy as np
import torch

from .residue_constants import ATOM_NAMES, PURINES
from .rigid import Rigid, quaternion_to_rotation

# Rows follow ATOM_NAMES: P, OP1, OP2, O5', C5', C4', O4', C3', O3', C2', O2', C1', N (Å).
_PURINE_LOCAL = (
    (-0.233, 3.885, 0.000), (-1.558, 4.096, 0.437), (0.776, 4.693, 0.541), (0.161, 2.373, 0.233),
    (-0.646, 1.330, -0.121), (0.000, 0.000, 0.000), (1.176, -0.036, -0.830), (0.524, -0.356, 1.375),
    (-0.482, -0.893, 2.207), (1.590, -1.390, 1.061), (1.015, -2.629, 0.805), (2.177, -0.815, -0.234),
    (3.361, 0.000, 0.000),
)
_PYRIMIDINE_LOCAL = (
    (-0.268, 3.893, 0.000), (-1.622, 4.092, 0.442), (0.757, 4.719, 0.544), (0.137, 2.382, 0.230),
    (-0.670, 1.325, -0.158), (0.000, 0.000, 0.000), (1.181, -0.047, -0.826), (0.523, -0.316, 1.386),
    (-0.486, -0.806, 2.247), (1.595, -1.359, 1.094), (1.025, -2.616, 0.861), (2.181, -0.818, -0.212),
    (3.387, 0.000, 0.000),
)
#: ``(2, len(ATOM_NAMES), 3)``: index 0 pyrimidine (also used for N), index 1 purine.
IDEAL_LOCAL_COORDS = np.array([_PYRIMIDINE_LOCAL, _PURINE_LOCAL], dtype=np.float32)

# (w, x, y, z) quaternion and translation (Å) of one stacked A-form step and of a WC pair.
_AFORM_STEP_QUATERNION = (0.957, -0.117, 0.031, 0.262)
_AFORM_STEP_TRANSLATION = (1.902, -3.669, 4.351)
_BASE_PAIR_QUATERNION = (0.002, 0.365, 0.931, 0.016)
_BASE_PAIR_TRANSLATION = (13.752, -5.168, 1.808)

assert IDEAL_LOCAL_COORDS.shape[1] == len(ATOM_NAMES)


def _rigid(quaternion: tuple[float, ...], translation: tuple[float, ...]) -> Rigid:
    q = torch.tensor(quaternion, dtype=torch.float64)
    return Rigid(quaternion_to_rotation(q), torch.tensor(translation, dtype=torch.float64))


AFORM_STEP = _rigid(_AFORM_STEP_QUATERNION, _AFORM_STEP_TRANSLATION)
BASE_PAIR = _rigid(_BASE_PAIR_QUATERNION, _BASE_PAIR_TRANSLATION)


def purine_mask(sequence: str) -> np.ndarray:
    """``(L,)`` bool, True at A/G (purine geometry), False at C/U/T/N (pyrimidine geometry)."""
    return np.array([base in PURINES for base in sequence.upper()], dtype=bool)


def frames_to_atoms(frames: Rigid, is_purine: torch.Tensor) -> torch.Tensor:
    """Place all ``ATOM_NAMES`` atoms from frames ``(..., L)``; returns ``(..., L, n_atoms, 3)``."""
    table = torch.as_tensor(IDEAL_LOCAL_COORDS, dtype=frames.trans.dtype, device=frames.trans.device)
    local = table[is_purine.long()]
    return frames.unsqueeze(-1).apply(local)


def aform_helix_frames(length: int) -> Rigid:
    """Frames of one ideal A-form strand of ``length`` residues (float64), first frame = identity."""
    if length < 1:
        raise ValueError(f"length must be positive, got {length}")
    frames = [Rigid.identity(dtype=torch.float64)]
    for _ in range(length - 1):
        frames.append(frames[-1].compose(AFORM_STEP))
    return Rigid(torch.stack([f.rots for f in frames]), torch.stack([f.trans for f in frames]))


def _stems(pair_table: list[int]) -> list[list[tuple[int, int]]]:
    """Maximal runs of stacked pairs ``(i, j), (i+1, j-1), ...`` from a 0-based partner list."""
    stems: list[list[tuple[int, int]]] = []
    for i, j in enumerate(pair_table):
        if j <= i:
            continue
        if stems and stems[-1][-1] == (i - 1, j + 1):
            stems[-1].append((i, j))
        else:
            stems.append([(i, j)])
    return stems


def _partners(length: int, pairs: list[tuple[int, int]]) -> list[int]:
    partner = [-1] * length
    for i, j in pairs:
        i, j = min(i, j), max(i, j)
        if not 0 <= i < j < length:
            raise ValueError(f"pair {(i, j)} out of range for length {length}")
        if partner[i] != -1 or partner[j] != -1:
            raise ValueError(f"a residue of pair {(i, j)} is already paired")
        partner[i], partner[j] = j, i
    return partner


def secondary_structure_baseline(sequence: str, pairs: list[tuple[int, int]], steps: int = 300) -> np.ndarray:
    """Coarse C4' model ``(L, 3)`` from a secondary structure (see :func:`_distance_geometry_floor`).

    Gradients are switched on inside, so it works under ``torch.no_grad`` / ``torch.inference_mode``.
    """
    with torch.inference_mode(False), torch.enable_grad():
        return _distance_geometry_floor(sequence, pairs, steps)


def _distance_geometry_floor(sequence: str, pairs: list[tuple[int, int]], steps: int) -> np.ndarray:
    """Coarse C4' model ``(L, 3)`` from a secondary structure: the floor model for evaluation.

    Each helix is an ideal A-form duplex (``AFORM_STEP`` along one strand, ``BASE_PAIR`` across);
    neighbours keep the A-form C4'-C4' step distance; all other C4' pairs are pushed apart to at
    least 5 Å. The C4' positions start on one ideal A-form strand and are fitted to these distance
    restraints by ``steps`` Adam steps, deterministically. Loops and the relative placement of helices
    are therefore only as good as the restraints make them: that is what makes it a floor.
    """
    length = len(sequence)
    partner = _partners(length, pairs)
    if length == 0:
        return np.zeros((0, 3), dtype=np.float32)
    start = aform_helix_frames(length).trans
    targets = torch.zeros(length, length, dtype=torch.float64)
    weights = torch.zeros(length, length, dtype=torch.float64)
    step_distance = float(AFORM_STEP.trans.norm())
    index = torch.arange(length - 1)
    targets[index, index + 1] = step_distance
    weights[index, index + 1] = 1.0
    for stem in _stems(partner):
        duplex = aform_helix_frames(len(stem))
        positions = torch.cat([duplex.trans, duplex.compose(BASE_PAIR).trans])
        residues = torch.tensor([i for i, _ in stem] + [j for _, j in stem])
        targets[residues[:, None], residues[None, :]] = torch.cdist(positions, positions)
        weights[residues[:, None], residues[None, :]] = 1.0
    coords = start.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([coords], lr=0.5)
    upper = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)
    for _ in range(steps):
        optimiser.zero_grad()
        distances = torch.sqrt(((coords[:, None] - coords[None, :]) ** 2).sum(-1) + 1e-6)
        restraint = (weights * (distances - targets) ** 2)[upper].sum()
        clash = ((1 - weights) * torch.relu(5.0 - distances) ** 2)[upper].sum()
        (restraint + clash).backward()
        optimiser.step()
    return coords.detach().numpy().astype(np.float32)


def kabsch_rotation(mobile: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Rotation ``R`` (proper, det +1) minimising ``|R (mobile - mean) - (target - mean)|``; batched ``(..., n, 3)``."""
    p = mobile - mobile.mean(dim=-2, keepdim=True)
    q = target - target.mean(dim=-2, keepdim=True)
    u, _, vt = torch.linalg.svd(p.transpose(-1, -2) @ q)
    v = vt.transpose(-1, -2)
    sign = torch.sign(torch.linalg.det(v @ u.transpose(-1, -2)))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    correction = torch.diag_embed(torch.stack([torch.ones_like(sign), torch.ones_like(sign), sign], dim=-1))
    return v @ correction @ u.transpose(-1, -2)


#: Helix extension of a floor built without a model's config (``fold3d.py predict --mode floor``) and of
#: new training runs: chosen on the validation chains (0: mean C4' lDDT 0.560; 1: +0.033; 2: +0.052;
#: 3, 5 or unlimited: within 0.002 of 2).
DEFAULT_HELIX_EXTENSION = 2
#: An extension pair ``(i, j)`` keeps ``j − i > 2``: at least two loop bases between its strands.
_EXTENSION_MIN_LOOP = 2


def extend_helices(length: int, pairs: list[tuple[int, int]], rounds: int) -> list[tuple[int, int]]:
    """``pairs`` with every helix grown by up to ``rounds`` stacked pairs at each end, whatever the bases.

    One round adds ``(i + 1, j − 1)`` and ``(i − 1, j + 1)`` next to every pair ``(i, j)`` where both
    bases are unpaired and ``j − i > 2`` afterwards (candidates in sorted order, each base once). In
    folded RNA the bases next to a helix mostly keep stacking on it (terminal mismatches, sheared
    G·A pairs, non-canonical pairs of internal loops), so the floor places them as the helix's
    continuation instead of as free loop points. The 2D channels keep the source's pairs; only the
    floor sees the extension. Raises ``ValueError`` for pairs out of range or sharing a base.
    """
    if rounds < 0:
        raise ValueError(f"rounds must be >= 0, got {rounds}")
    partner = _partners(length, pairs)
    for _ in range(rounds):
        current = sorted((i, j) for i, j in enumerate(partner) if i < j)
        candidates = sorted({
            (a, b) for i, j in current for a, b in ((i + 1, j - 1), (i - 1, j + 1))
            if 0 <= a and b < length and b - a > _EXTENSION_MIN_LOOP
        })  # fmt: skip
        added = False
        for a, b in candidates:
            if partner[a] == -1 and partner[b] == -1:
                partner[a], partner[b] = b, a
                added = True
        if not added:
            break
    return sorted((i, j) for i, j in enumerate(partner) if i < j)


def floor_frames(sequence: str, pairs: list[tuple[int, int]], steps: int = 400, helix_extension: int = 0) -> Rigid:
    """Residue frames ``(L,)`` (float32) of the A-form floor (see :func:`_rigid_helix_floor`) on ``pairs``
    after :func:`extend_helices` with ``helix_extension`` rounds.

    Gradients are switched on inside, so it works under ``torch.no_grad`` / ``torch.inference_mode``.
    """
    pairs = extend_helices(len(sequence), pairs, helix_extension)
    with torch.inference_mode(False), torch.enable_grad():
        return _rigid_helix_floor(sequence, pairs, steps)


def _rigid_helix_floor(sequence: str, pairs: list[tuple[int, int]], steps: int) -> Rigid:
    """Residue frames ``(L,)`` (float32) of the A-form floor: the start of the structure module.

    Rule (deterministic, no learned parameter):

    * every helix (maximal run of stacked pairs, an isolated pair included) is one rigid body: the
      ideal right-handed A-form duplex (``aform_helix_frames`` along the 5' strand, ``BASE_PAIR``
      across), frames included, so helices are exact ideal geometry whatever happens to the rest;
    * every other residue is a free C4' point;
    * start: all residues on one ideal A-form strand, each helix superimposed (Kabsch) on the
      start positions of its residues;
    * then ``steps`` Adam steps (helix rotations and translations, loop points) on the restraint
      energy of :func:`secondary_structure_baseline`: consecutive C4' atoms at the A-form step
      distance (6.0 Å), C4' atoms of different bodies that are not neighbours at least 5 Å apart;
    * a loop residue's orientation is that of the middle residue of an ideal A-form strand of three
      superimposed on its own C4' and its neighbours' (window shifted inwards at the chain ends).

    The C4'-only distance-geometry floor (:func:`secondary_structure_baseline`) optimises C4'
    points only, so its helices can come out mirrored (left-handed) or torn; it is kept as the
    reference of earlier evaluations.
    """
    length = len(sequence)
    partner = _partners(length, pairs)
    if length == 0:
        return Rigid(torch.zeros(0, 3, 3), torch.zeros(0, 3))
    start = aform_helix_frames(length).trans
    body = torch.full((length,), -1, dtype=torch.long)
    local_frames, members, start_rotations, start_centres = [], [], [], []
    for k, stem in enumerate(_stems(partner)):
        duplex = aform_helix_frames(len(stem))
        paired = duplex.compose(BASE_PAIR)
        residues = torch.tensor([i for i, _ in stem] + [j for _, j in stem])
        rots, trans = torch.cat([duplex.rots, paired.rots]), torch.cat([duplex.trans, paired.trans])
        trans = trans - trans.mean(dim=0)
        local_frames.append(Rigid(rots, trans))
        members.append(residues)
        start_rotations.append(kabsch_rotation(trans, start[residues]))
        start_centres.append(start[residues].mean(dim=0))
        body[residues] = k
    loops = torch.nonzero(body < 0).flatten()
    n_bodies = len(members)
    rotation_updates = torch.zeros(n_bodies, 3, dtype=torch.float64, requires_grad=True)
    centres = (torch.stack(start_centres) if n_bodies else torch.zeros(0, 3, dtype=torch.float64)).clone()
    centres.requires_grad_(True)
    loop_points = start[loops].clone().requires_grad_(True)
    start_rotation = torch.stack(start_rotations) if n_bodies else torch.zeros(0, 3, 3, dtype=torch.float64)

    def body_rotations() -> torch.Tensor:
        quaternion = torch.cat([torch.ones(n_bodies, 1, dtype=torch.float64), rotation_updates], dim=-1)
        return start_rotation @ quaternion_to_rotation(quaternion)

    in_body = body >= 0
    body_index = body[in_body]
    body_local = torch.zeros(length, 3, dtype=torch.float64)
    for k, residues in enumerate(members):
        body_local[residues] = local_frames[k].trans
    body_local = body_local[in_body]

    def positions() -> torch.Tensor:
        helices = torch.einsum("nij,nj->ni", body_rotations()[body_index], body_local) + centres[body_index]
        out = torch.zeros(length, 3, dtype=torch.float64)
        return out.index_put((torch.nonzero(in_body).flatten(),), helices).index_put((loops,), loop_points)

    index = torch.arange(length)
    neighbours = (index[:, None] - index[None, :]).abs() == 1
    same_body = (body[:, None] == body[None, :]) & (body[:, None] >= 0)
    upper = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)
    bonded = neighbours & ~same_body & upper
    repelled = ~neighbours & ~same_body & upper
    step_distance = float(AFORM_STEP.trans.norm())
    optimiser = torch.optim.Adam([
        {"params": [centres, loop_points], "lr": 0.5},
        {"params": [rotation_updates], "lr": 0.02},
    ])
    for _ in range(steps):
        optimiser.zero_grad()
        coords = positions()
        distances = torch.sqrt(((coords[:, None] - coords[None, :]) ** 2).sum(-1) + 1e-6)
        energy = ((distances - step_distance)[bonded] ** 2).sum() + (torch.relu(5.0 - distances[repelled]) ** 2).sum()
        energy.backward()
        optimiser.step()
    with torch.no_grad():
        coords = positions()
        rotations = torch.eye(3, dtype=torch.float64).repeat(length, 1, 1)
        body_rots = body_rotations()
        for k, residues in enumerate(members):
            rotations[residues] = body_rots[k] @ local_frames[k].rots
        if length >= 2 and len(loops):
            window = min(3, length)
            strand = aform_helix_frames(window)
            starts = (loops - 1).clamp(0, length - window)
            windows = starts[:, None] + torch.arange(window)[None, :]
            fit = kabsch_rotation(strand.trans.expand(len(loops), window, 3), coords[windows])
            rotations[loops] = fit @ strand.rots[loops - starts]
    return Rigid(rotations.to(torch.float32), coords.to(torch.float32))
