"""Small command-line tools the workflows run (.github/workflows): setting the image in the stack
files, smoke-testing a deployed stack, proving the NetworkPolicies are enforced; and the IAM trust policies
of the roles they assume. Each is also runnable by hand; see docs/deploying.md and docs/production-hardening.md."""
