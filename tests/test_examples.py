"""Example payloads (the banner's ``invoke -p …`` lines): each one passes the action's own
validation, or there is none."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from ipaddress import IPv4Address
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import (
    UUID4,
    AnyUrl,
    BaseModel,
    DirectoryPath,
    Field,
    FilePath,
    HttpUrl,
    IPvAnyAddress,
    TypeAdapter,
    ValidationError,
)

from kernel_actions.tooling.examples import UNKNOWN, example_payload, example_value


class Page(BaseModel):
    url: HttpUrl


class PlainUrl(BaseModel):
    url: str = Field(pattern=r"^https?://")


class Contact(BaseModel):
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    homepage_url: AnyUrl
    startUrl: Annotated[str, Field(pattern=r"^https://")]


class Kinds(BaseModel):
    when: dt.datetime
    day: dt.date
    at: dt.time
    id: uuid.UUID
    id4: UUID4
    ip: IPv4Address
    any_ip: IPvAnyAddress
    wait: dt.timedelta
    name: str = Field(min_length=3, max_length=5)
    count: int = Field(gt=0, le=10)
    ratio: float = Field(gt=0, lt=1)
    tags: list[str] = Field(min_length=2, max_length=3)
    folder: DirectoryPath


class Nested(BaseModel):
    page: Page
    pages: list[Page] = Field(min_length=1)
    maybe: Page | None


@pytest.mark.parametrize("model", [Page, PlainUrl, Contact, Kinds, Nested])
def test_the_example_passes_the_models_own_validation(model: type[BaseModel]) -> None:
    payload = example_payload(model.model_json_schema())
    assert payload is not None
    model.model_validate(json.loads(payload))


def test_a_url_field_gets_a_url_not_its_name() -> None:
    assert example_payload(Page.model_json_schema()) == '{"url": "https://example.com"}'
    # A plain string named for what it holds: its name says which value will pass.
    assert example_value({"type": "string"}, name="callback_url") == "https://example.com"
    assert example_value({"type": "string"}, name="email") == "user@example.com"
    assert example_value({"type": "string"}, name="title") == "title"


class Coded(BaseModel):
    code: str = Field(pattern=r"^[A-Z]{3}-\d{4}$")


class Upload(BaseModel):
    file: FilePath


@pytest.mark.parametrize("model", [Coded, Upload])
def test_no_example_when_no_valid_value_is_known(model: type[BaseModel]) -> None:
    """A placeholder that would fail (a pattern, a file that must exist) is left out."""
    schema = model.model_json_schema()
    assert example_value(schema) is UNKNOWN and example_payload(schema) is None
    with pytest.raises(ValidationError):
        model.model_validate({name: name for name in schema["properties"]})


def test_scalars_and_bounds() -> None:
    cases: list[tuple[Any, Any]] = [
        (Annotated[int, Field(le=-5)], -5), (Annotated[int, Field(gt=7)], 8),
        (Annotated[str, Field(max_length=2)], "te"), (bool, True),
    ]
    for kind, expected in cases:
        schema = TypeAdapter(kind).json_schema()
        assert example_value(schema) == expected
        TypeAdapter(kind).validate_python(example_value(schema))
    assert example_payload({"type": "null"}) is None


def test_directory_paths_that_exist(tmp_path: Path) -> None:
    assert Path(example_value({"type": "string", "format": "directory-path"})).is_dir()
