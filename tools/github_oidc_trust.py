"""The IAM trust policy of each AWS role the GitHub workflows assume: every role trusts GitHub's OIDC
provider for exactly one job environment, so only jobs of that environment (and its protection rules)
can assume it.

    python3 tools/github_oidc_trust.py --repository octo-org/hft-frontend-infra --account 123456789012 \\
        --role preview --stack staging > trust.json
    aws iam update-assume-role-policy --role-name <the role> --policy-document file://trust.json

| role    | environment     | variable holding its ARN (of that environment) | may                  |
|---------|-----------------|------------------------------------------------|----------------------|
| preview | preview-<stack> | AWS_PREVIEW_ROLE_ARN                           | read (pull requests) |
| deploy  | <stack>         | AWS_ROLE_ARN                                   | deploy the stack     |
| drift   | drift-<stack>   | AWS_ROLE_ARN                                   | read (drift check)   |

GitHub gives a job that names an environment the subject `repo:<owner>/<repo>:environment:<name>`
(GitHub's OIDC reference, "Filtering for a specific environment"); the condition is StringEquals on it
and on the audience `sts.amazonaws.com` (aws-actions/configure-aws-credentials' default). A repository
that emits the immutable subject form (`repo:<owner>@<owner-id>/<repo>@<repo-id>:...`) passes that
form as --repository. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from typing import Any

ISSUER = "token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"


@dataclass(frozen=True)
class RoleKind:
    name: str
    environment: str  # with {stack}
    variable: str  # the environment's variable the workflows read the role's ARN from
    writes: bool  # whether the role may change the stack


ROLES = {
    role.name: role
    for role in (
        RoleKind("preview", "preview-{stack}", "AWS_PREVIEW_ROLE_ARN", writes=False),
        RoleKind("deploy", "{stack}", "AWS_ROLE_ARN", writes=True),
        RoleKind("drift", "drift-{stack}", "AWS_ROLE_ARN", writes=False),
    )
}
_REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*(@[0-9]+)?/[A-Za-z0-9._-]+(@[0-9]+)?$")
_ACCOUNT = re.compile(r"^[0-9]{12}$")
_STACK = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def environment(role: str, stack: str) -> str:
    return ROLES[role].environment.format(stack=stack)


def subject(repository: str, environment_name: str) -> str:
    return f"repo:{repository}:environment:{environment_name}"


def trust_policy(account: str, repository: str, role: str, stack: str) -> dict[str, Any]:
    """Only jobs of this role's environment for this stack, with a token meant for STS."""
    for value, pattern, what in (
        (account, _ACCOUNT, "an AWS account id (12 digits)"),
        (repository, _REPOSITORY, "<owner>/<repo>"),
        (stack, _STACK, "a stack name"),
    ):
        if not pattern.match(value):
            raise ValueError(f"{value!r} is not {what}")
    if role not in ROLES:
        raise ValueError(f"{role!r} is not a role ({', '.join(ROLES)})")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": f"arn:aws:iam::{account}:oidc-provider/{ISSUER}"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{ISSUER}:aud": AUDIENCE,
                        f"{ISSUER}:sub": subject(repository, environment(role, stack)),
                    }
                },
            }
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="github_oidc_trust", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--repository", required=True, help="<owner>/<repo> as the OIDC subject spells it")
    parser.add_argument("--account", required=True, help="the AWS account holding GitHub's OIDC provider")
    parser.add_argument("--role", required=True, choices=sorted(ROLES))
    parser.add_argument("--stack", required=True)
    args = parser.parse_args(argv)
    try:
        document = trust_policy(args.account, args.repository, args.role, args.stack)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
