"""The station a publisher speaks for: its ids, its cameras and the topics they make."""

from __future__ import annotations

from dataclasses import dataclass

from lineinspect.contract import TopicKind, build_topic


@dataclass(frozen=True)
class Station:
    site: str
    line: str
    station: str
    cameras: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.cameras:
            raise ValueError("a station needs at least one camera")
        if len(set(self.cameras)) != len(self.cameras):
            raise ValueError(f"camera ids must be unique, got {self.cameras}")
        for camera in self.cameras:  # validates every id once, here
            build_topic(TopicKind.EVENTS, self.site, self.line, self.station, camera)

    def topic(self, kind: TopicKind, camera: str | None = None) -> str:
        return build_topic(kind, self.site, self.line, self.station, camera)

    @property
    def availability_topic(self) -> str:
        return self.topic(TopicKind.AVAILABILITY)
