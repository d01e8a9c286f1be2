"""pulumi-random: the generated values the program reads."""

from __future__ import annotations

from offline_preview.providers import Computed, NewResource, computes, hex_placeholder


@computes("random:index/randomPassword:RandomPassword")
def random_password(resource: NewResource) -> Computed:
    length = int(resource.inputs.get("length", 32))
    return f"{resource.name}-id", {
        "result": hex_placeholder(resource.seed("password"), length),
        "bcryptHash": "$2a$10$" + hex_placeholder(resource.seed("bcrypt"), 53),
    }
