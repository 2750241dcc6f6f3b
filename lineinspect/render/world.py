"""Which parts, finishes, backgrounds and defect styles a dataset may draw from.

A :class:`World` is the list of families each randomised choice is made from. Training uses
:data:`TRAIN_WORLD`; :data:`HELDOUT_WORLD` is made only of what training never sees — three part
families, two background families and one defect style — so its figures say how the detector does
on a line it has never met (leave-family-out). :func:`check_disjoint` guards that split.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from lineinspect.render.backgrounds import BACKGROUNDS
from lineinspect.render.families import FAMILIES
from lineinspect.render.materials import FINISHES
from lineinspect.render.styles import STYLES

HELDOUT_FAMILIES = ("flange", "bracket", "link")
HELDOUT_BACKGROUNDS = ("rollers", "mesh")
HELDOUT_STYLES = ("scratch-scuff",)


@dataclass(frozen=True)
class World:
    name: str
    families: tuple[str, ...]
    finishes: tuple[str, ...]
    backgrounds: tuple[str, ...]
    styles: tuple[str, ...]
    # Part outer diameter as a share of the frame's short side.
    part_scale: tuple[float, float] = (0.12, 0.6)
    p_mono: float = 0.5
    p_no_defect: float = 0.15
    max_defects: int = 4
    max_parts: int = 4
    # Share of stills with distractors drawn under the parts (lineinspect.render.clutter).
    p_clutter: float = 0.0
    # Share of parts with design features painted on (lineinspect.render.features): round spots
    # that are not dents. Training only, so held-out holes stay a fair test.
    p_features: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for kind, names, known in (("family", self.families, FAMILIES),
                                   ("finish", self.finishes, FINISHES),
                                   ("background", self.backgrounds, BACKGROUNDS),
                                   ("style", self.styles, STYLES)):
            unknown = sorted(set(names) - set(known))
            if unknown or not names:
                raise ValueError(f"world {self.name!r}: unknown or empty {kind} {unknown}; "
                                 f"known: {sorted(known)}")


def _without(all_names: Iterable[str], held: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(n for n in all_names if n not in held)


TRAIN_WORLD = World(
    name="train",
    families=_without(FAMILIES, HELDOUT_FAMILIES),
    finishes=tuple(FINISHES),
    backgrounds=_without(BACKGROUNDS, HELDOUT_BACKGROUNDS),
    styles=_without(STYLES, HELDOUT_STYLES),
    p_clutter=0.5,
    p_features=0.4,
)
HELDOUT_WORLD = World(
    name="heldout",
    families=HELDOUT_FAMILIES,
    finishes=tuple(FINISHES),
    backgrounds=HELDOUT_BACKGROUNDS,
    # The held-out style beside the others, so every defect class is present.
    styles=(*HELDOUT_STYLES, *(s for s in STYLES if not s.startswith("scratch"))),
)
ALL_WORLD = World(name="all", families=tuple(FAMILIES), finishes=tuple(FINISHES),
                  backgrounds=tuple(BACKGROUNDS), styles=tuple(STYLES))

WORLDS: dict[str, World] = {w.name: w for w in (TRAIN_WORLD, HELDOUT_WORLD, ALL_WORLD)}


def check_disjoint(train: World, heldout: World) -> None:
    """Raise if a held-out part family, background or style leaks into ``train``."""
    leaks = {
        "families": set(train.families) & set(HELDOUT_FAMILIES),
        "backgrounds": set(train.backgrounds) & set(HELDOUT_BACKGROUNDS),
        "styles": set(train.styles) & set(HELDOUT_STYLES),
    }
    bad = {k: sorted(v) for k, v in leaks.items() if v}
    if bad:
        raise ValueError(f"world {train.name!r} contains held-out {bad} of {heldout.name!r}")
