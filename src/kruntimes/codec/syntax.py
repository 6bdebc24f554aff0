"""Kubernetes name syntaxes; each check returns the problem in words, or None."""

from __future__ import annotations

import re

from kruntimes.codec.limits import LABEL_MAX, NAME_MAX

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", re.ASCII)
_DNS_SUBDOMAIN = re.compile(
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", re.ASCII
)
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?", re.ASCII)
_ENV_NAME = re.compile(r"[ -<>-~]+", re.ASCII)

_ALNUM_RULE = "alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"


def dns_label_problem(text: str) -> str | None:
    if len(text) > LABEL_MAX or not _DNS_LABEL.fullmatch(text):
        return (
            f"must be a DNS-1123 label: at most {LABEL_MAX} lower-case alphanumerics or '-', "
            "starting and ending with an alphanumeric"
        )
    return None


def dns_subdomain_problem(text: str) -> str | None:
    if len(text) > NAME_MAX or not _DNS_SUBDOMAIN.fullmatch(text):
        return (
            f"must be a DNS-1123 subdomain: at most {NAME_MAX} lower-case alphanumerics, "
            "'-' or '.', starting and ending with an alphanumeric"
        )
    return None


def label_value_problem(text: str) -> str | None:
    if len(text) > LABEL_MAX or not _LABEL_VALUE.fullmatch(text):
        return f"must be a label value: at most {LABEL_MAX} {_ALNUM_RULE}"
    return None


def qualified_name_problem(text: str) -> str | None:
    """Label keys and resource names: `[prefix/]name`, prefix a DNS subdomain."""
    prefix, slash, name = text.rpartition("/")
    if slash and (not prefix or dns_subdomain_problem(prefix)):
        return f"prefix before '/' must be a DNS-1123 subdomain of at most {NAME_MAX} characters"
    if not name or len(name) > LABEL_MAX or not _LABEL_VALUE.fullmatch(name):
        return f"must be a qualified name: [prefix/]name, name 1..{LABEL_MAX} {_ALNUM_RULE}"
    return None


def env_name_problem(text: str) -> str | None:
    if not _ENV_NAME.fullmatch(text):
        return "must be printable ASCII without '=' and not empty"
    return None


def relative_path_problem(text: str, *, allow_dots: bool = False) -> str | None:
    """A path inside the Run's working tree: relative, segments non-empty and not `.`/`..`."""
    if text.startswith("/"):
        return "must be a relative path"
    for segment in text.split("/"):
        if segment == "..":
            return "must not contain '..' segments"
        if not allow_dots and segment in ("", "."):
            return "must not contain empty or '.' segments"
    return None
