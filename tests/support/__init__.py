"""Helpers the test modules share (test modules never import each other):

- `stacks`: the project, its stack files, and rendering a stack (with overrides) under the offline
  preview's engine; settings fixtures (a minimal app, an app whose every field has a distinct value);
- `crd_schemas`: strict validation of custom resources against the vendored CRDs;
- `policies`: rendered resources broken one property at a time, evaluated by the real pack;
- `states`: Pulumi states (stack exports, checkpoints) built in a test, for the audit;
- `network_policies`: what a set of NetworkPolicies lets through;
- `promql`: reading PromQL expressions (selectors, functions, groupings).
"""
