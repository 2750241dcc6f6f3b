"""The synthetic conveyor (``lineinspect.render.video``) as a camera, with its ground truth."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge.sources.frame import Frame, SourceReadError, Stamper
from edge.sources.settings import SyntheticSource

if TYPE_CHECKING:
    from lineinspect.render.line import RandomConveyor
    from lineinspect.render.video import ConveyorScene


class SyntheticFrameSource:
    max_block_s = 2.0  # one render

    def __init__(self, settings: SyntheticSource, stamper: Stamper | None = None) -> None:
        self._settings = settings
        self._stamper = stamper or Stamper()
        self._scene: ConveyorScene | RandomConveyor | None = None
        self._index = 0
        s = settings
        world = "" if s.world == "classic" else f" world={s.world}"
        self.description = (f"synthetic conveyor seed={s.seed}{world} "
                            f"{s.width}x{s.height}@{s.fps:g}")

    @property
    def pace_fps(self) -> float | None:
        return self._settings.fps if self._settings.pace else None

    @property
    def index(self) -> int:
        """Scene frame index of the next frame (seek/loop position; not ``Frame.seq``)."""
        return self._index

    def open(self) -> None:
        if self._scene is None:
            self._scene = _build_scene(self._settings)
        self._index = 0

    def read(self) -> Frame | None:
        if self._scene is None:
            raise SourceReadError(f"{self.description}: read before open")
        frames = self._settings.frames
        if frames is not None and self._index >= frames:
            if not self._settings.loop:
                return None
            self._index = 0
        image, truth = self._scene.render(self._index)
        self._index += 1
        return self._stamper.stamp(image, truth)

    def close(self) -> None:
        # Keep the scene: it is deterministic and costly to build, and reopening must not redo it.
        pass


def _build_scene(s: SyntheticSource) -> ConveyorScene | RandomConveyor:
    # Imported here so only users of the synthetic source pay for the renderer.
    if s.world == "classic":
        from lineinspect.render.video import ConveyorScene

        return ConveyorScene(seed=s.seed, width=s.width, height=s.height, fps=s.fps)
    from lineinspect.render.line import RandomConveyor
    from lineinspect.render.world import WORLDS

    return RandomConveyor(WORLDS[s.world], seed=s.seed, width=s.width, height=s.height, fps=s.fps)
