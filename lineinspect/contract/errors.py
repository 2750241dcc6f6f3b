"""The single exception type of the wire contract."""

from __future__ import annotations

from typing import Literal

ContractErrorCode = Literal[
    "bad_topic",
    "oversize",
    "not_utf8",
    "not_json",
    "unsupported_version",
    "invalid",
    "topic_mismatch",
]


class ContractError(ValueError):
    """A message that is not a valid v1 message; ``code`` is stable, ``reason`` is for humans."""

    def __init__(self, code: ContractErrorCode, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code: ContractErrorCode = code
        self.reason = reason
