"""Validators for Pulumi's own formats, from the vendored schemas (`schemas/pulumi`): the state
export (`deployments.json`, referencing `resources.json` and `property-values.json`) and the
project file (`project.json`)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for
from referencing import Registry, Resource

from tests.support.stacks import PROJECT_DIR

SCHEMAS = PROJECT_DIR / "schemas" / "pulumi"


@cache
def deployment_validator() -> Draft202012Validator:
    schemas = [json.loads(p.read_text()) for p in SCHEMAS.glob("*.json")]
    registry: Registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)
    return Draft202012Validator(json.loads((SCHEMAS / "deployments.json").read_text()), registry=registry)


@cache
def project_validator() -> Any:
    schema = json.loads((SCHEMAS / "project.json").read_text())
    return validator_for(schema, default=Draft202012Validator)(schema)
