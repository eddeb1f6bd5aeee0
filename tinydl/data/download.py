"""Download a file over HTTP(S), check its SHA-256, and store it atomically.

The bytes go to a temporary file next to the destination while being hashed;
only when the hash matches is the file renamed into place. A mismatch raises
``ChecksumError`` and leaves nothing behind.
"""

import hashlib
import http.client
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tinydl.io import atomic_write

CHUNK_BYTES = 1 << 20


class ChecksumError(ValueError):
    """A downloaded file's SHA-256 differs from the expected one."""


class DownloadError(OSError):
    """A file could not be fetched."""


def download_file(url, destination, sha256, timeout=60, progress=None):
    """Fetch ``url`` into ``destination`` (a file path) if its SHA-256 is ``sha256``.

    ``sha256=None`` skips the check (for files whose checksum nobody published);
    the file is still written atomically.
    ``progress``: show a tqdm bar; ``None`` means "when tqdm is installed and
    stderr is a terminal". Returns the destination as a ``Path``.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except (urllib.error.URLError, OSError) as error:
        raise DownloadError(f"download: could not fetch {url} ({error})") from error
    with response:
        total = int(response.headers.get("Content-Length") or 0) or None
        bar = _progress_bar(total, destination.name, progress)
        digest = hashlib.sha256()
        try:
            with atomic_write(destination) as f:  # removed again if anything below raises
                while chunk := response.read(CHUNK_BYTES):
                    digest.update(chunk)
                    f.write(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
                if sha256 is not None and digest.hexdigest() != sha256.lower():
                    raise ChecksumError(
                        f"download: {url} has SHA-256 {digest.hexdigest()}, expected {sha256}; "
                        "the file was not saved (a damaged download or a changed file upstream)"
                    )
        except (OSError, http.client.HTTPException) as error:
            raise DownloadError(f"download: fetching {url} failed part-way ({error})") from error
        finally:
            if bar is not None:
                bar.close()
    return destination


def _progress_bar(total, label, progress):
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=label, unit="B", unit_scale=True, file=sys.stderr)
