"""``modelservice plan``: will this model fit these GPUs with this context length?

:mod:`.sizing` does the arithmetic (weights, KV cache, activations per GPU), :mod:`.tables`
holds the known models and GPUs, :mod:`.sources` reads a model's config.json, :mod:`.server`
reads what the rendered server asks, and :mod:`.planner` is the command: validate, render,
read, size.
"""
