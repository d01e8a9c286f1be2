"""Offline preview: runs the real `__main__.py` in-process under Pulumi mocks with a stack's config,
and renders what `pulumi preview` would register: the resource tree, every Kubernetes object as the
provider would send it, and the state in `pulumi stack export` format."""
