"""Which environment variables hold a credential, by the last words of their names
(`secret-literal`), and which URLs carry one (`secret-in-url`): every word of the rule, and the
names that only look like one, taken from vLLM, huggingface_hub and common tools."""

from __future__ import annotations

import pytest

from modelservice.checks.secrets import is_secret_env, url_credentials

SECRETS = [
    ("HF_TOKEN", "abc"),
    ("DB_PASS", "correct-horse"),
    ("DB_PWD", "correct-horse"),
    ("SMTP_PASSWORD", "x9"),
    ("LDAP_PASSWD", "x9"),
    ("GPG_PASSPHRASE", "x9"),
    ("OAUTH_CLIENT_SECRET", "x9"),
    ("GCP_CREDENTIALS", '{"type": "service_account"}'),
    ("REGISTRY_CREDENTIAL", "x9"),
    ("DOCKER_CREDS", "x9"),
    ("WANDB_API_KEY", "x9"),
    ("SERVICE_APIKEY", "x9"),
    ("AWS_SECRET_ACCESS_KEY", "x9"),
    ("GITHUB_APP_PRIVATE_KEY", "-----BEGIN"),
    ("JWT_SIGNING_KEY", "x9"),
    ("AZURE_STORAGE_ACCOUNT_KEY", "x9"),
    ("AZURE_STORAGE_CONNECTION_STRING", "AccountKey=x9"),
    ("dbPassword", "x9"),
    ("apiKey", "x9"),
    ("db.password", "x9"),
    ("ANYTHING", "hf_" + "a" * 34),
]
NOT_SECRETS = [
    ("TOKENIZERS_PARALLELISM", "false"),
    ("MAX_TOKENS", "4096"),
    ("VLLM_MAX_BAD_WORDS_TOTAL_TOKENS", "128"),
    ("VLLM_MULTI_STREAM_GEMM_TOKEN_THRESHOLD", "1024"),
    ("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1"),
    ("HF_TOKEN_PATH", "/var/run/secrets/hf/token"),
    ("GOOGLE_APPLICATION_CREDENTIALS", "/var/run/gcp/key.json"),
    ("DB_PASSWORD_FILE", "/run/secrets/db"),
    ("DB_PASS", "$(DB_PASS_FROM_SECRET)"),
    ("S3_ACCESS_KEY_ID", "AKIAEXAMPLE"),
    ("SORT_KEY", "name"),
    ("CACHE_KEY", "v1"),
    ("PWD", "/workspace"),
    ("BYPASS", "x9"),
    ("HF_TOKEN", ""),
    ("VLLM_ENABLE_PREGRAD_PASSES", "1"),
]


@pytest.mark.parametrize(("name", "value"), SECRETS)
def test_a_literal_value_of_a_credential_name_is_a_secret(name, value):
    assert is_secret_env(name, value)


@pytest.mark.parametrize(("name", "value"), NOT_SECRETS)
def test_a_name_or_value_that_only_looks_like_a_credential_is_not(name, value):
    assert not is_secret_env(name, value)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("https://alice:s3cret@hf-mirror.example.com", "alice:s3cret"),
        ("http://tok123@mirror.example/", "tok123"),
        ("postgres://app:pw@db:5432/x", "app:pw"),
        ("--some-url=https://u:p@h/x", "u:p"),
        ("https://hf-mirror.com", None),
        ("https://hf-mirror.com/path@v1", None),
        ("ssh://git@github.com/org/repo", None),
        ("mailto:me@example.com", None),
    ],
)
def test_credentials_in_a_url_are_found_and_a_plain_url_passes(text, found):
    assert url_credentials(text) == found
