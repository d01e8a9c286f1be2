"""What `pulumi preview --policy-pack policies` runs: builds the pack and serves it to the engine.

`PolicyPack(...)` starts the analyzer's gRPC server and never returns, so this file does nothing else and
nothing imports it; the policies live in `policies.pack` and the modules it lists.
"""

import sys
from pathlib import Path

# The CLI runs this file with policies/ as the working directory and first on sys.path; the policies
# import each other as `policies.*` (as the tests and the offline preview do), so the project root must
# come first.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import PolicyPack

from policies import pack

if __name__ == "__main__":
    PolicyPack(
        name=pack.NAME,
        policies=pack.POLICIES,
        enforcement_level=pack.ENFORCEMENT_LEVEL,
        description=pack.DESCRIPTION,
    )
