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

#: A Hugging Face user access token.
HF_TOKEN_SHAPE = re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")
#: The last word of an environment variable's name that makes its value a credential
#: (``DB_PASS``, ``SMTP_PASSWORD``, ``OAUTH_CLIENT_SECRET``, ``HF_TOKEN``); a plural is not
#: one (``MAX_TOKENS``), nor is a word another word holds (``TOKENIZERS_PARALLELISM``).
SECRET_WORDS = frozenset(
    {
        "TOKEN",
        "PASSWORD",
        "PASSWD",
        "PASS",
        "PWD",
        "PASSPHRASE",
        "SECRET",
        "CREDENTIAL",
        "CREDENTIALS",
        "CREDS",
        "APIKEY",
        "PRIVATEKEY",
    }
)
#: ``KEY`` is a credential after one of these words (``WANDB_API_KEY``, ``AWS_SECRET_ACCESS_KEY``,
#: ``GITHUB_APP_PRIVATE_KEY``), and not alone (``SORT_KEY``, ``CACHE_KEY``).
KEY_QUALIFIERS = frozenset(
    {
        "API",
        "ACCESS",
        "SECRET",
        "PRIVATE",
        "SIGNING",
        "ENCRYPTION",
        "MASTER",
        "ACCOUNT",
        "CLIENT",
        "AUTH",
        "LICENSE",
        "SSH",
        "SESSION",
    }
)
#: Names whose last two words are a credential of their own (a connection string holds the
#: account key: ``AZURE_STORAGE_CONNECTION_STRING``).
SECRET_PAIRS = frozenset({("CONNECTION", "STRING"), ("CONN", "STR")})
#: Names that end in a secret word and are not credentials: the shell's working directory.
NOT_SECRET_NAMES = frozenset({"PWD", "OLDPWD"})
#: Values that are no credential whatever the name: a switch (``HF_HUB_DISABLE_IMPLICIT_TOKEN=1``),
#: a path to a mounted file (``GOOGLE_APPLICATION_CREDENTIALS=/var/run/key.json``, how a
#: Secret volume is meant to be read), a reference to another variable (``$(DB_PASS)``).
_NOT_A_SECRET_VALUE = re.compile(
    r"^(|0|1|true|false|yes|no|on|off|/.*|\$\([A-Za-z_][A-Za-z0-9_.-]*\))$", re.IGNORECASE
)
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def name_words(name: str) -> list[str]:
    """The words of a variable name, upper-case: ``dbPassword`` and ``DB_PASSWORD`` alike."""
    return [w.upper() for part in re.split(r"[^A-Za-z0-9]+", name) for w in _WORD.findall(part)]


def is_secret_name(name: str) -> bool:
    """Whether a variable so named holds a credential (by the last words of its name)."""
    words = name_words(name)
    if not words or name.upper() in NOT_SECRET_NAMES:
        return False
    last = words[-1]
    if last in SECRET_WORDS:
        return True
    if last == "KEY" and len(words) > 1 and words[-2] in KEY_QUALIFIERS:
        return True
    return len(words) > 1 and (words[-2], last) in SECRET_PAIRS


def is_secret_env(name: str, value: object) -> bool:
    """Whether an env item ``name=value`` writes a credential as a literal."""
    if value is None:
        return False
    text = str(value).strip()
    if isinstance(value, str) and HF_TOKEN_SHAPE.search(text):
        return True
    return is_secret_name(name) and not _NOT_A_SECRET_VALUE.match(text)


SECRET_LITERAL = rule(
    "secret-literal",
    "error",
    "values",
    "A credential in the values file, where anyone who can read the chart's values (or the "
    "release's manifests) reads it: a literal env value of a variable whose name ends in a "
    "credential word (`HF_TOKEN`, `DB_PASS`, `DB_PWD`, `SMTP_PASSWORD`, `OAUTH_CLIENT_SECRET`, "
    "`GOOGLE_CREDENTIALS`, `WANDB_API_KEY`, `GITHUB_PRIVATE_KEY`, "
    "`AZURE_STORAGE_CONNECTION_STRING`, camelCase names alike; not `TOKENIZERS_PARALLELISM`, "
    "`MAX_TOKENS`, `HF_TOKEN_PATH`, nor a switch such as `HF_HUB_DISABLE_IMPLICIT_TOKEN=1` or a "
    "path to a mounted file), anything shaped like a Hugging Face token (`hf_...`), a `value` "
    "beside `secretName`, a token where a Secret reference belongs. Put it in a Secret and "
    "reference it (valueFrom.secretKeyRef, or the typed key's secretName).",
)
SECRET_IN_URL = rule(
    "secret-in-url",
    "error",
    "values",
    "A URL with credentials in it (`https://user:password@host/`, or a token as the user "
    "name of an http URL) anywhere in the values: huggingface.endpoint, modelscope.endpoint, "
    "autoscaling.keda.serverAddress, a trigger's metadata, an env value, an engine argument. "
    "It lands in plain text in the pod spec or the ScaledObject, where anyone who can read "
    "them reads it. Drop the credentials from the URL and give them through a Secret: the "
    "hub token Secret (huggingface.token.secretName, modelscope.token.secretName), a KEDA "
    "TriggerAuthentication (autoscaling.keda.authenticationRef with authModes), or an env "
    "item with valueFrom.secretKeyRef.",
)
#: A URL's scheme and user information (``https://user:pass@``), the user information ending
#: at the first ``@`` before the host's path.
_URL_USERINFO = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*)://([^/\s@?#]+)@")

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


def url_credentials(text: str) -> str | None:
    """The credentials a URL in ``text`` carries (``user:password``, or a user name standing
    for a token in an http URL), or None. ``ssh://git@host`` names a user, no credential."""
    for match in _URL_USERINFO.finditer(text):
        scheme, userinfo = match.group(1).lower(), match.group(2)
        if ":" in userinfo or scheme in ("http", "https"):
            return userinfo
    return None


def _url_fix(path: Path_) -> str:
    """Where the credentials of a URL at ``path`` belong."""
    if path[:2] == ("huggingface", "endpoint"):
        return (
            "put the token in a Secret and set huggingface.token.secretName (the hub client "
            "sends it to the mirror as a bearer token, from HF_TOKEN)"
        )
    if path[:2] == ("modelscope", "endpoint"):
        return "put the token in a Secret and set modelscope.token.secretName"
    if path[:3] == ("autoscaling", "keda", "extraTriggers"):
        return (
            "put them in a Secret, read it from a KEDA TriggerAuthentication (secretTargetRef "
            "parameters username and password), name it in the trigger's authenticationRef and "
            "add authModes: basic to the trigger's metadata"
        )
    if path[:2] == ("autoscaling", "keda"):
        return (
            "put them in a Secret, read it from a KEDA TriggerAuthentication (secretTargetRef "
            "parameters username and password) and set autoscaling.keda.authenticationRef to "
            "its name with autoscaling.keda.authModes: basic"
        )
    if path[:1] == ("env",):
        return "put the URL in a Secret and read it with valueFrom.secretKeyRef"
    return f"put them in a Secret and reference it; {_SECRET_HINT}"


@check("values", SECRET_IN_URL, phase="early")
def url_secrets(ctx: Context) -> list[Problem]:
    """A URL that carries credentials, anywhere in the values."""
    problems: list[Problem] = []
    for path, value in walk(ctx.values):
        if not isinstance(value, str) or "://" not in value:
            continue
        env = get(ctx.values, path[:2]) if path[:1] == ("env",) else None
        if isinstance(env, dict) and is_secret_env(str(env.get("name")), value):
            continue  # a literal credential already, said by secret-literal
        userinfo = url_credentials(value)
        if userinfo is None:
            continue
        user = userinfo.split(":", 1)[0]
        what = f"user {user!r} and a password" if ":" in userinfo else "a token as its user name"
        problems.append(
            ctx.problem(
                path,
                f"the URL carries credentials ({what}), which would land in plain text in the "
                f"rendered manifests: drop them from the URL; {_url_fix(path)}",
                SECRET_IN_URL,
                key=False,
            )
        )
    return problems


@check("values", SECRET_LITERAL, phase="early")
def secret_literals(ctx: Context) -> list[Problem]:
    """A credential written into the values file."""
    problems: list[Problem] = []
    flagged: set[Path_] = set()
    env = ctx.values.get("env")
    for index, var in enumerate(env if isinstance(env, list) else []):
        if not isinstance(var, dict) or not isinstance(var.get("name"), str):
            continue
        if is_secret_env(var["name"], var.get("value")):
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
