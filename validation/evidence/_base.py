"""What every evidence model shares: strict types, unknown keys kept, absent means not measured.

Strict: a string where a count belongs is refused when results.json is loaded, not coerced
into a number the run never measured. Unknown keys are kept (`extra="allow"`): a results.json
written by an older or newer stage still loads, and its extra fields are written back as they
were. A field left out stays out of the dump (`dump(...)` drops unset fields), so "absent"
(not measured) and "measured as null" remain two different things in the file.
"""

from __future__ import annotations

from typing import Any, Union

from pydantic import BaseModel, ConfigDict

# a measured number: an int stays an int (a count is shown as one), a bool is not a number
Num = Union[int, float]


class Record(BaseModel):
    """Base of every evidence model (see the module docstring)."""

    model_config = ConfigDict(extra="allow", strict=True, populate_by_name=True)

    def has(self, name: str) -> bool:
        """Whether the stage reported `name` at all (`None` included): a row is shown for it."""
        return name in self.model_fields_set or name in (self.model_extra or {})

    def dump(self) -> dict[str, Any]:
        """The JSON form written to results.json: reported fields only, by their JSON names."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)
