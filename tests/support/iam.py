"""IAM policy documents linted with Duo Labs' parliament (its action and resource catalogue ships in
the package, so it runs offline): unknown actions, actions on resources they do not apply to, unknown
condition keys, malformed statements."""

from __future__ import annotations

import copy
import json
import warnings
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # parliament imports pkg_resources, which warns of its own deprecation
    from parliament import analyze_policy_string, enhance_finding


def findings(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(severity, issue, detail) of every finding on an identity or resource policy."""
    policy = analyze_policy_string(json.dumps(document))
    return [(f.severity, f.issue, str(f.detail)) for f in map(enhance_finding, policy.findings)]


def trust_policy_findings(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The same for a role's trust policy. parliament 1.6.4 reads trust policies as identity policies:
    a statement without Resource is malformed to it (and then nothing else is checked), it knows no
    OIDC provider as a federation source, and no OIDC issuer's condition keys (`<issuer>:sub`, `:aud`). So
    each statement gets a placeholder Resource, and those two known false positives are left out, the keys
    only for an issuer a statement federates; everything else stands."""
    placed = copy.deepcopy(document)
    issuers = set()  # the OIDC issuers the statements federate (an EKS cluster's, GitHub's)
    for statement in placed["Statement"]:
        statement.setdefault("Resource", "arn:aws:iam::123456789012:role/placeholder")
        federated = statement.get("Principal", {}).get("Federated", "")
        if ":oidc-provider/" in federated:
            issuers.add(federated.split(":oidc-provider/", 1)[1])
    kept = []
    for severity, issue, detail in findings(placed):
        if issue == "UNKNOWN_FEDERATION_SOURCE" and ":oidc-provider/" in detail:
            continue
        if issue == "UNKNOWN_CONDITION_FOR_ACTION" and any(
            f"condition {issuer}:{key} " in detail for issuer in issuers for key in ("sub", "aud")
        ):
            continue
        kept.append((severity, issue, detail))
    return kept
