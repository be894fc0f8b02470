"""Downloading the public archive into the cache folder, with `pooch`: streamed into a
temporary file beside the destination, checked (optional sha256, then the archive's layout)
and only then moved to its final name."""
import os

from ._files import (ARCHIVE_URL, DOWNLOAD_NAME, DatasetNotFoundError, InvalidDatasetError,
                     check_archive_layout, how_to_supply)

ENV_SHA256 = "FASTRNN_IMDB_SHA256"
ENV_NO_DOWNLOAD = "FASTRNN_NO_DOWNLOAD"


def http_download(url, destination):
    """Default downloader: `url` into the file `destination` with a progress bar on stderr
    (pooch's HTTP downloader). Raises OSError (requests' errors are OSErrors) on failure."""
    import pooch
    pooch.HTTPDownloader(progressbar=True)(url, destination, None)


def fetch_archive(cache_dir, downloader, sha256):
    """Download ARCHIVE_URL into `cache_dir` with `downloader(url, destination)`; return the
    path of the archive. `sha256`: expected hex digest, or None to check only the layout."""
    if os.environ.get(ENV_NO_DOWNLOAD, "").strip() not in ("", "0"):
        raise DatasetNotFoundError(
            f"IMDB data not found and downloading is disabled "
            f"({ENV_NO_DOWNLOAD} is set).\n" + how_to_supply(cache_dir)
        )
    try:
        os.makedirs(cache_dir, exist_ok=True)
        if not os.access(cache_dir, os.W_OK | os.X_OK):
            raise PermissionError(f"no write permission on {cache_dir!r}")
    except OSError as e:
        raise DatasetNotFoundError(
            f"IMDB data not found, and the cache folder {cache_dir!r} is not "
            f"writable so it cannot be downloaded there ({e}).\n"
            + how_to_supply(cache_dir)
        ) from e

    def download_and_check(url, output_file, _pooch):
        try:
            downloader(url, output_file)
        except Exception as e:  # network errors, HTTP errors, timeouts...
            raise DatasetNotFoundError(
                f"IMDB data not found locally and the download from "
                f"{url} failed: {type(e).__name__}: {e}\n" + how_to_supply(cache_dir)
            ) from e
        check_archive_layout(output_file, what=f"the download from {url}")

    import pooch
    try:
        return pooch.retrieve(ARCHIVE_URL, known_hash=f"sha256:{sha256.strip()}" if sha256 else None,
                              fname=DOWNLOAD_NAME, path=cache_dir, downloader=download_and_check)
    except InvalidDatasetError:
        raise
    except ValueError as e:  # pooch: the hash does not match (the file is deleted)
        raise InvalidDatasetError(
            f"the download from {ARCHIVE_URL} does not have the expected sha256 "
            f"(configured by {ENV_SHA256} or ARCHIVE_SHA256): {e}"
        ) from None
