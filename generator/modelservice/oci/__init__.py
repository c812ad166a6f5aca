"""OCI registries: references, the distribution API, models pushed as artifacts (``push-model``)."""
