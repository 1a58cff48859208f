"""Where a request's videos and images come from, and what the server may read or fetch.

`fetch_media(url, policy, folder)` turns a ``video_url`` / ``image_url`` into a local file:

- ``file://``: only under ``policy.local_root``; the resolved real path (``..``, ``%2e%2e`` and
  symlinks followed) must stay inside it.
- ``data:`` (base64): decoded into ``folder`` when at most ``policy.max_bytes``.
- ``http(s)://``: only for hosts in ``policy.domains``. The host's addresses are resolved and
  checked (loopback, link-local, private, reserved and multicast addresses are refused unless in
  ``policy.ip_ranges``) and the connection goes to the checked address; every redirect hop is
  checked again. The download has a deadline and a byte cap.

Every refusal raises `MediaError` with the HTTP status and code the API answers with.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import http.client
import ipaddress
import mimetypes
import os
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 5
SUFFIXES = {"video/mp4": ".mp4", "video/quicktime": ".mov", "video/webm": ".webm", "video/x-matroska": ".mkv",
            "video/x-msvideo": ".avi", "image/gif": ".gif", "image/jpeg": ".jpg", "image/png": ".png",
            "image/webp": ".webp", "image/bmp": ".bmp"}

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class MediaError(ValueError):
    """A media URL the server refuses or cannot read: ``status`` (400, 403, 413) and ``code``."""

    def __init__(self, message: str, status: int = 400, code: str = "invalid_media") -> None:
        super().__init__(message)
        self.status, self.code = status, code


@dataclass(frozen=True)
class MediaPolicy:
    """What media a server may read.

    local_root:    ``file://`` URLs must resolve inside this folder (None: ``file://`` refused).
    domains:       host names (lower case) that ``http(s)://`` URLs may name (empty: none).
    ip_ranges:     non-public networks a fetched host may resolve to (public addresses always may).
    max_bytes:     the largest video or image accepted (``data:`` after decoding, downloads, files).
    fetch_timeout: seconds allowed for a whole download, redirects included.
    """

    local_root: Path | None = None
    domains: frozenset[str] = frozenset()
    ip_ranges: tuple[IpNetwork, ...] = ()
    max_bytes: int = 64 * 2**20
    fetch_timeout: float = 20.0

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or not self.fetch_timeout > 0:
            raise ValueError("max_bytes must be >= 1 and fetch_timeout > 0")

    @classmethod
    def from_options(cls, local_root: str | os.PathLike[str] | None, domains: str | None = None,
                     ip_ranges: str | None = None, max_bytes: int = 64 * 2**20,
                     fetch_timeout: float = 20.0) -> MediaPolicy:
        """From command-line values: comma-separated ``domains`` and CIDR ``ip_ranges``.
        Raises ``ValueError`` for a missing root or a malformed range."""
        root = None
        if local_root is not None:
            root = Path(local_root).expanduser().resolve()
            if not root.is_dir():
                raise ValueError(f"--allowed-local-media-path {local_root}: no such directory")
        names = frozenset(d.strip().lower().rstrip(".") for d in (domains or "").split(",") if d.strip())
        try:
            networks = tuple(ipaddress.ip_network(r.strip(), strict=False)
                             for r in (ip_ranges or "").split(",") if r.strip())
        except ValueError as exc:
            raise ValueError(f"--allowed-media-ip-ranges: {exc}") from None
        return cls(root, names, networks, max_bytes, fetch_timeout)

    @property
    def roots(self) -> tuple[Path, ...]:
        return (self.local_root,) if self.local_root else ()


def describe_url(url: str) -> str:
    """A short name of ``url`` for messages (a ``data:`` URL by its type and size, not its bytes)."""
    if url.startswith("data:"):
        head = url[5:].split(",", 1)[0]
        return f"data:{head} ({len(url)} characters)"
    return url if len(url) <= 200 else url[:200] + "..."


def fetch_media(url: str, policy: MediaPolicy, folder: Path, kind: str = "video") -> Path:
    """A local file holding the media at ``url`` (``kind``: ``video`` or ``image``); downloads and
    ``data:`` URLs are written into ``folder`` under the content's SHA-256 (same bytes, same file).
    Raises `MediaError`."""
    if not isinstance(url, str) or not url:
        raise MediaError(f"{kind}_url.url must be a non-empty string")
    if "\x00" in url:
        raise MediaError(f"{kind}_url.url contains a NUL character")
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "file":
        return _local_file(url, policy)
    if scheme == "data":
        return _data_url(url, policy, folder, kind)
    if scheme in ("http", "https"):
        return _download(url, policy, folder, kind)
    raise MediaError(f"unsupported {kind} URL {describe_url(url)!r}: use file://, data: (base64) or http(s)://")


def check_local_path(path: str | os.PathLike[str], roots: tuple[Path, ...]) -> Path:
    """The real path of ``path`` when it lies inside one of ``roots`` (symlinks and ``..`` resolved);
    raises `MediaError` 403 otherwise and 400 when nothing is there."""
    if not roots:
        raise MediaError("local files are not served: start the server with --allowed-local-media-path DIR",
                         403, "media_forbidden")
    real = Path(os.path.realpath(path))
    if not any(real == root or real.is_relative_to(root) for root in roots):
        raise MediaError(f"{os.fspath(path)!r} is outside the allowed media folder", 403, "media_forbidden")
    if not real.exists():
        raise MediaError(f"{os.fspath(path)!r}: no such file", 400, "media_not_found")
    return real


def _local_file(url: str, policy: MediaPolicy) -> Path:
    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise MediaError(f"file URL {url!r} names a host; use file:///absolute/path")
    path = urllib.parse.unquote(parts.path)  # %2e%2e becomes .. before the path is resolved
    if not os.path.isabs(path):
        raise MediaError(f"file URL {url!r} needs an absolute path")
    real = check_local_path(path, policy.roots)
    size = real.stat().st_size if real.is_file() else 0
    if size > policy.max_bytes:
        raise MediaError(f"{url!r} has {size} bytes; the limit is {policy.max_bytes}", 413, "media_too_large")
    return real


def _data_url(url: str, policy: MediaPolicy, folder: Path, kind: str) -> Path:
    head, sep, payload = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        raise MediaError(f"{kind}_url: a data URL must be data:<type>;base64,<data>")
    mime = head[: -len(";base64")].lower()
    if len(payload) * 3 // 4 > policy.max_bytes + 3:  # checked before anything is decoded
        raise MediaError(f"the {kind} in the data URL has about {len(payload) * 3 // 4} bytes; the limit is "
                         f"{policy.max_bytes}", 413, "media_too_large")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise MediaError(f"{kind}_url: the data URL is not valid base64") from None
    if len(data) > policy.max_bytes:
        raise MediaError(f"the {kind} has {len(data)} bytes; the limit is {policy.max_bytes}", 413,
                         "media_too_large")
    return _store(data, _suffix(mime, "", kind), folder)


def _suffix(mime: str, path: str, kind: str) -> str:
    """A file suffix the decoder recognises, from the content type or else the URL's path."""
    mime = mime.split(";")[0].strip().lower()
    if mime in SUFFIXES:
        return SUFFIXES[mime]
    guessed = Path(urllib.parse.urlsplit(path).path).suffix.lower() if path else ""
    if guessed and mimetypes.guess_type("x" + guessed)[0]:
        return guessed
    return ".jpg" if kind == "image" else ".mp4"  # the decoder probes the content anyway


def _store(data: bytes, suffix: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()}{suffix}"
    if not path.exists():
        tmp = path.with_name(path.name + f".{os.getpid()}.{time.monotonic_ns()}.part")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return path


def check_address(host: str, address: str, policy: MediaPolicy) -> None:
    """Raise `MediaError` 403 when ``address`` (an IP ``host`` resolved to) is not public and not in
    ``policy.ip_ranges``."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_global and not ip.is_multicast:
        return
    if any(ip in network for network in policy.ip_ranges):
        return
    kind = next((name for name, bad in (("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
                                        ("private", ip.is_private), ("multicast", ip.is_multicast))
                 if bad), "reserved")
    raise MediaError(f"media host {host!r} resolves to {ip} ({kind}); not allowed (see --allowed-media-ip-ranges)",
                     403, "media_forbidden")


def _resolve(host: str, port: int, policy: MediaPolicy) -> str:
    """The first address of ``host``, after every address it resolves to passed `check_address`."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise MediaError(f"media host {host!r} cannot be resolved: {exc.strerror}", 400, "media_fetch_failed") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for address in addresses:
        check_address(host, address, policy)
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to an address already checked (no second DNS lookup to rebind)."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _download(url: str, policy: MediaPolicy, folder: Path, kind: str) -> Path:
    deadline = time.monotonic() + policy.fetch_timeout
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        parts = urllib.parse.urlsplit(current)
        if parts.scheme not in ("http", "https"):
            raise MediaError(f"{describe_url(url)!r} redirects to {parts.scheme}:, which is not fetched", 403,
                             "media_forbidden")
        host = (parts.hostname or "").lower().rstrip(".")
        if host not in policy.domains:
            raise MediaError(f"media host {host!r} is not allowed (see --allowed-media-domains)", 403,
                             "media_forbidden")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise MediaError(f"{describe_url(current)!r} has a bad port") from None
        address = _resolve(host, port, policy)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise MediaError(f"fetching {describe_url(url)!r} took longer than {policy.fetch_timeout:g} s", 400,
                             "media_fetch_timeout")
        connection_type = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
        connection = connection_type(host, port, address, remaining)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request("GET", target, headers={"User-Agent": "kangaroo-serve", "Accept": "*/*"})
            response = connection.getresponse()
            if response.status in REDIRECTS and response.getheader("Location"):
                current = urllib.parse.urljoin(current, response.getheader("Location"))
                continue
            if response.status != 200:
                raise MediaError(f"fetching {describe_url(current)!r} got HTTP {response.status}", 400,
                                 "media_fetch_failed")
            declared = response.getheader("Content-Length")
            if declared and declared.isdigit() and int(declared) > policy.max_bytes:
                raise MediaError(f"{describe_url(current)!r} has {declared} bytes; the limit is {policy.max_bytes}",
                                 413, "media_too_large")
            data = _read_capped(response, policy.max_bytes, deadline, current)
            return _store(data, _suffix(response.getheader("Content-Type") or "", current, kind), folder)
        except TimeoutError:
            raise MediaError(f"fetching {describe_url(url)!r} took longer than {policy.fetch_timeout:g} s", 400,
                             "media_fetch_timeout") from None
        except (OSError, http.client.HTTPException) as exc:
            raise MediaError(f"fetching {describe_url(current)!r} failed: {exc}", 400, "media_fetch_failed") from None
        finally:
            connection.close()
    raise MediaError(f"{describe_url(url)!r} redirects more than {MAX_REDIRECTS} times", 400, "media_fetch_failed")


def _read_capped(response: http.client.HTTPResponse, max_bytes: int, deadline: float, url: str) -> bytes:
    chunks, total = [], 0
    while chunk := response.read(1 << 16):
        total += len(chunk)
        if total > max_bytes:
            raise MediaError(f"{describe_url(url)!r} has more than {max_bytes} bytes", 413, "media_too_large")
        if time.monotonic() > deadline:
            raise TimeoutError
        chunks.append(chunk)
    return b"".join(chunks)
