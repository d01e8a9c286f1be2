"""URNs as the Pulumi engine makes them, and the root stack's: the one place that spells them."""

from __future__ import annotations

STACK_TYPE = "pulumi:pulumi:Stack"


def stack_urn(stack: str, project: str) -> str:
    """The root stack resource's URN (its name is `<project>-<stack>`)."""
    return f"urn:pulumi:{stack}::{project}::{STACK_TYPE}::{project}-{stack}"


def engine_urn(stack: str, project: str, parent: str, type_: str, name: str) -> str:
    """The URN the engine gives a resource (pulumi's `resource.NewURN`): the type is qualified by the
    parent's whole type chain, except that the root stack adds nothing. (Pulumi's MockMonitor
    qualifies by the last parent type only, stack included, which no real state contains.)"""
    if parent:
        parent_type = urn_type_chain(parent)
        if parent_type != STACK_TYPE:
            type_ = f"{parent_type}${type_}"
    return f"urn:pulumi:{stack}::{project}::{type_}::{name}"


def urn_type_chain(urn: str) -> str:
    """`urn:pulumi:s::p::a$b::n` -> `a$b`: the resource's type qualified by its parents' types."""
    return urn.split("::")[2]


def urn_name(urn: str) -> str:
    """The logical name: everything after `urn:pulumi:<stack>::<project>::<type>::`."""
    return urn.split("::", 3)[-1]


def urn_stack_project(urn: str) -> tuple[str, str]:
    """(stack, project) of a URN."""
    stack, project = urn.removeprefix("urn:pulumi:").split("::")[:2]
    return stack, project
