"""Class names every role agrees on: the defect classes, and the classes that are not defects.

The shipped detectors name ``scratch``, ``crack`` and ``dent`` with ids 0–2 (alarm codes, severity
rules, dashboards and contract examples rely on those ids) and, from v3, ``part`` with id 3: the
whole visible part, which anchors tracking and per-part results but is never a defect — never a
defect event, an alarm or a defect count. A user's model may have other classes; only the names
in :data:`NON_DEFECT_CLASSES` (or the tracking settings' own list) are treated as not-defects.
"""

from __future__ import annotations

DEFECT_CLASSES: tuple[str, ...] = ("scratch", "crack", "dent")
PART_CLASS = "part"
NON_DEFECT_CLASSES: tuple[str, ...] = (PART_CLASS,)
