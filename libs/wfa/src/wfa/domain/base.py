"""The base of every model: camelCase on the wire through aliases, snake_case in Python."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_enum_values=False,
        ser_json_timedelta="iso8601",
        # A field's docstring is its description in the OpenAPI document: written once, beside the field.
        use_attribute_docstrings=True,
    )
