"""Credentials written into a values file, where anyone with the chart can read them.

Runs before the chart's schema: a token pasted where a Secret name belongs is said as what it
is, not as a schema error at the same key.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..core.problem import Problem
from ..core.rules import rule
from ..core.tree import Path_, get, walk
from .context import check

if TYPE_CHECKING:
    from .context import Context

#: Environment variables whose value is a credential: these come from a Secret.
SECRET_ENV = re.compile(
    r"^(HF_TOKEN|HUGGING_FACE_HUB_TOKEN|HUGGINGFACE_HUB_TOKEN|VLLM_API_KEY|MODELSCOPE_API_TOKEN"
    r"|OPENAI_API_KEY|.*_(TOKEN|API_KEY|APIKEY|SECRET|SECRET_KEY|PASSWORD|ACCESS_KEY))$",
    re.IGNORECASE,
)
#: A Hugging Face user access token.
HF_TOKEN_SHAPE = re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")

SECRET_LITERAL = rule(
    "secret-literal",
    "error",
    "values",
    "A credential in the values file, where anyone who can read the chart's values (or the "
    "release's manifests) reads it: an env value for `HF_TOKEN`, `VLLM_API_KEY`, `*_TOKEN`, "
    "`*_API_KEY`, `*_PASSWORD`..., anything shaped like a Hugging Face token (`hf_...`), a "
    "`value` beside `secretName`, a token where a Secret reference belongs. Put it in a "
    "Secret and reference it (valueFrom.secretKeyRef, or the typed key's secretName).",
)

_SECRET_HINT = (
    "put it in a Secret (kubectl create secret generic NAME --from-literal=KEY=...) and "
    "reference it"
)
#: The typed key that carries each credential the chart wires itself.
_TYPED_KEYS = {
    "HF_TOKEN": "huggingface.token.secretName",
    "HUGGING_FACE_HUB_TOKEN": "huggingface.token.secretName",
    "VLLM_API_KEY": "auth.apiKey.secretName",
    "MODELSCOPE_API_TOKEN": "modelscope.token.secretName",
}


@check("values", SECRET_LITERAL, phase="early")
def secret_literals(ctx: Context) -> list[Problem]:
    """A credential written into the values file."""
    problems: list[Problem] = []
    flagged: set[Path_] = set()
    env = ctx.values.get("env")
    for index, var in enumerate(env if isinstance(env, list) else []):
        if not isinstance(var, dict) or not isinstance(var.get("name"), str):
            continue
        if SECRET_ENV.match(var["name"]) and var.get("value") not in (None, ""):
            flagged.add(("env", index, "value"))
            typed = _TYPED_KEYS.get(var["name"].upper())
            problems.append(
                ctx.problem(
                    ("env", index, "value"),
                    f"{var['name']} holds a credential as a literal value; {_SECRET_HINT} "
                    "with valueFrom.secretKeyRef" + (f", or set {typed}" if typed else ""),
                    SECRET_LITERAL,
                )
            )
    for hub in ("huggingface", "modelscope"):
        token = get(ctx.values, (hub, "token"))
        if isinstance(token, str) and token:
            flagged.add((hub, "token"))
            problems.append(
                ctx.problem(
                    (hub, "token"),
                    f"{hub}.token takes a Secret reference, not the token itself; "
                    f"{_SECRET_HINT} as {hub}.token.secretName (and secretKey)",
                    SECRET_LITERAL,
                )
            )
    for path, value in walk(ctx.values):
        if isinstance(value, dict) and "secretName" in value:
            for key in ("value", "token", "apiKey", "key"):
                if isinstance(value.get(key), str) and value[key]:
                    flagged.add((*path, key))
                    problems.append(
                        ctx.problem(
                            (*path, key),
                            f"`{key}` beside secretName holds the secret itself; {_SECRET_HINT} "
                            "by secretName and secretKey only",
                            SECRET_LITERAL,
                        )
                    )
        # walk yields a mapping before its items: a value flagged above is not said twice.
        elif isinstance(value, str) and path not in flagged and HF_TOKEN_SHAPE.search(value):
            problems.append(
                ctx.problem(
                    path,
                    f"looks like a Hugging Face access token (hf_...); {_SECRET_HINT} through "
                    "huggingface.token.secretName",
                    SECRET_LITERAL,
                    key=False,
                )
            )
    return problems
