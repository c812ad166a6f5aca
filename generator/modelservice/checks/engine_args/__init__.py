"""``engine-arg-*``: engine.args against the pinned vLLM release (``flags``), and on the rendered
command line (``rendered``)."""
