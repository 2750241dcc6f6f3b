"""Small settings blocks every role shares."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from lineinspect.contract.topics import is_valid_id


def _topic_id(value: str) -> str:
    if not is_valid_id(value):
        raise ValueError(
            f"{value!r} is not a topic-safe id: use 1-64 characters from A-Z a-z 0-9 _ . - "
            "starting with a letter or digit (no '/', '+', '#' or spaces)"
        )
    return value


TopicId = Annotated[str, Field(max_length=64), AfterValidator(_topic_id)]


class LoggingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"
