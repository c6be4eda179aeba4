"""What every spec section shares: the strict base model and the constrained numbers the sections use."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
Probability = Annotated[float, Field(gt=0, le=1)]
Beta = Annotated[float, Field(ge=0, lt=1)]


class Strict(BaseModel):
    """Base for every spec section: unknown keys are mistakes, not extensions."""

    # A string under a field is its description: the JSON Schema and the manual's spec reference show it.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)
