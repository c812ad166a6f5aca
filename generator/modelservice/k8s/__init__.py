"""Kubernetes facts: its OpenAPI schemas, quantities, names and labels."""
