"""How a component names its children: `<component name>-<suffix>`, so two instances of a component
never register the same URN; a child renamed from an earlier name keeps its state through an alias."""

from __future__ import annotations

from typing import Any

import pulumi


def child(
    parent: pulumi.Resource, parent_name: str, suffix: str, *old_names: str, **options: Any
) -> tuple[str, pulumi.ResourceOptions]:
    """The child's logical name and options: parented to `parent`, with an alias (same parent) for each
    earlier name it had, so `pulumi up` moves its state instead of replacing it."""
    name = f"{parent_name}-{suffix}"
    aliases: list[pulumi.Input[pulumi.Alias | str]] = [pulumi.Alias(name=old) for old in old_names if old != name]
    aliases += options.pop("aliases", [])
    return name, pulumi.ResourceOptions(parent=parent, aliases=aliases, **options)
