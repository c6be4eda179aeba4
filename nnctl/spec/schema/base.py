"""What every spec section shares: the strict base model and the constrained numbers the sections use."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
Probability = Annotated[float, Field(gt=0, le=1)]
Beta = Annotated[float, Field(ge=0, lt=1)]

INT64 = (-(2**63), 2**63 - 1)  # what HDF5 attributes and NumPy arrays hold without falling back to Python objects


class Strict(BaseModel):
    """Base for every spec section: unknown keys are mistakes, not extensions, and a value is taken as written.

    ``strict``: ``true`` is not the integer 1 and ``"20"`` is not 20 (an integer is still a number where one is
    expected); ``allow_inf_nan``: ``.inf`` and ``.nan`` are not numbers a run can use, and JSON has no word for them.
    """

    # A string under a field is its description: the JSON Schema and the manual's spec reference show it.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True,
                              strict=True, allow_inf_nan=False)

    @field_validator("*")
    @classmethod
    def _within_int64(cls, value: Any) -> Any:
        """Every integer of a spec ends up in a NumPy array or an HDF5 attribute: one beyond 64 bits crashed there."""
        for number in _integers(value):
            if not INT64[0] <= number <= INT64[1]:
                raise ValueError(f"expected an integer from {INT64[0]} to {INT64[1]} (64 bits), got {number}")
        return value


def _integers(value: Any) -> list[int]:
    """The integers in a field's value: itself, or the items of a list or tuple (a kernel's [f_H, f_W])."""
    if isinstance(value, (list, tuple)):
        return [number for item in value for number in _integers(item)]
    return [value] if isinstance(value, int) and not isinstance(value, bool) else []
