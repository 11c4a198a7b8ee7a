"""Where data files come from, in this order (the one place that decides it):

1. ``--data-dir`` if given, else ``$MT2ST_DATA_DIR`` if set: a folder holding ``<dataset>/``;
2. the per-user cache (``pooch.os_cache("mt2st")``, e.g. ``~/.cache/mt2st``);
3. a download from the dataset's canonical home into that cache through pooch, verified
   against pinned sha256 hashes (``$MT2ST_MIRROR`` replaces every host by one base URL:
   ``<mirror>/<host>/<path>``; ``$MT2ST_OFFLINE`` forbids downloads).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mt2st.data import sst
from mt2st.errors import DataNotFoundError

ENV_VAR = "MT2ST_DATA_DIR"
OFFLINE_ENV_VAR = "MT2ST_OFFLINE"
MIRROR_ENV_VAR = "MT2ST_MIRROR"


def source_url(url: str) -> str:
    """The URL a download really uses: the canonical one, or its path under ``$MT2ST_MIRROR``."""
    mirror = os.environ.get(MIRROR_ENV_VAR)
    if not mirror:
        return url
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{mirror.rstrip('/')}/{parts.netloc}{parts.path}"


@dataclass(frozen=True)
class Remote:
    """A download: a URL, the archive's pinned hash in pooch's form ("<sha256>" or "md5:<md5>";
    None for single files, whose sha256 is in ``Resource.files``), and for archives the member
    path of each file we keep (our name → path inside the archive)."""

    url: str
    known_hash: str | None = None
    members: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Resource:
    """A folder of files, known by name, with the sha256 of each file we read (None where the
    file is built from verified archives, so a pin on it would only pin one copy's layout)."""

    name: str
    description: str
    files: dict[str, str | None]
    remotes: tuple[Remote, ...] = ()
    note: str = ""
    build: Callable[[Path], None] | None = None  # writes ``files`` from the downloaded members

    def missing(self, folder: Path) -> list[str]:
        return [f for f in self.files if not (folder / f).is_file()]


_MIKOLOV = "https://raw.githubusercontent.com/tmikolov/word2vec/master/"
_FARUQUI = "https://raw.githubusercontent.com/mfaruqui/eval-word-vectors/master/data/word-sim/"
_WIKITEXT = ("https://raw.githubusercontent.com/pytorch/examples/main/"
             "word_language_model/data/wikitext-2/")

_WORDSIM = {
    "EN-MC-30.txt": "33ee05911496ff83d95cac351d0746c6f63b9181b605cb7d307f4daa8864511b",
    "EN-MEN-TR-3k.txt": "3df21751d8f69d51619ec62251c045da70815f3fad27736db7c1fc99ff3bfacf",
    "EN-MTurk-287.txt": "a9ae3a9decb75a9700fe0cf18b048c1344774d9f40e0196baf8e34d4cd9d1ce5",
    "EN-MTurk-771.txt": "7b9c566bdb6f82074337c8ab7cedf684eb06e1c33263107df5169fa1cd045988",
    "EN-RG-65.txt": "c243f3a91c3f5d8cf67f21a67f6fb80bde8b6bb060851a6a48e6f2d68ec98c9f",
    "EN-RW-STANFORD.txt": "5108d54dfc746f44f9c3d7e31d2857c37cf71430bc1594175a61a3b89bb0ae1f",
    "EN-SIMLEX-999.txt": "405394ffb7d25f6d0e3c041f87c9f27d29dc6b047506769953e85c4523b11685",
    "EN-SimVerb-3500.txt": "c31adf2ee2954b144117a17f37c19eeeaf8e470b29980168d8f7a816dd1c4386",
    "EN-VERB-143.txt": "37bf50e1f8ccdddbacbc49ff12a4be26820e8d666aa966b698eabd40901821db",
    "EN-WS-353-ALL.txt": "7968d0b0f8851fd1932c0aa998482f12396761774769450b290f142f52942b8c",
    "EN-WS-353-REL.txt": "66a7c88100624d0a391605ff61ce84e11d11ee620d51ec0298da49592838f8fa",
    "EN-WS-353-SIM.txt": "f1da938998863c94e53f72f984a5c6e215f0b46c323aae8f0f4930703a339107",
    "EN-YP-130.txt": "4b963f0771ba8cf1d378de8cd43387c31eae34a5e57e2de3685c53fc2cdd9a73",
}

RESOURCES: dict[str, Resource] = {
    r.name: r
    for r in (
        Resource(
            "sst2", "Stanford Sentiment Treebank, binary (train/dev/test TSVs with labels)",
            {"train.tsv": None, "dev.tsv": None, "test.tsv": None},
            remotes=(
                # GLUE's archive: its MD5 is the one torchtext pins (no sha256 is published)
                Remote("https://dl.fbaipublicfiles.com/glue/data/SST-2.zip",
                       known_hash="md5:9f81648d4199384278b86e315dac217c",
                       members={sst.GLUE_TRAIN: "SST-2/train.tsv", sst.GLUE_DEV: "SST-2/dev.tsv"}),
                # the treebank's trees (789,539 bytes), for the labelled binary test set
                Remote("https://nlp.stanford.edu/sentiment/trainDevTestTrees_PTB.zip",
                       known_hash="5c613a4f673fc74097d523a2c83f38e0cc462984d847b82c7aaf36b01cbbbfcc",
                       members={sst.PTB_TEST: "trees/test.txt"}),
            ),
            note="train/dev from GLUE, test rebuilt from the treebank's PTB trees "
                 "(mt2st/data/sst.py)",
            build=sst.rebuild,
        ),
        Resource(
            "mr", "Movie Review sentence polarity v1.0 (Pang & Lee 2005)",
            {"rt-polarity.pos": "2da124ec187a9d5a29c9f04e91c540e02baed5af8868f550a26bd6fd4dbf8bf0",
             "rt-polarity.neg": "4ace77d558c3714723843f1d65b60c01e3417b208180f0728808d76ad0eeeaca"},
            remotes=(Remote("https://www.cs.cornell.edu/people/pabo/movie-review-data/"
                            "rt-polaritydata.tar.gz",
                            members={"rt-polarity.pos": "rt-polaritydata/rt-polarity.pos",
                                     "rt-polarity.neg": "rt-polaritydata/rt-polarity.neg"}),),
        ),
        Resource(
            "analogy", "Google analogy test set (Mikolov et al. 2013)",
            {"questions-words.txt":
             "8c29b3332afc46f3fb8be04cb5297bf96f39aa7131272dff57869b4485b22a36"},
            remotes=(Remote(_MIKOLOV + "questions-words.txt"),),
        ),
        Resource(
            "wordsim", "13 English word-similarity sets (Faruqui & Dyer's collection)",
            dict(_WORDSIM),
            remotes=tuple(Remote(_FARUQUI + name) for name in _WORDSIM),
        ),
        Resource(
            "wikitext2", "WikiText-2 validation and test splits (extra embedding corpus)",
            {"valid.txt": "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8",
             "test.txt": "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0"},
            remotes=(Remote(_WIKITEXT + "valid.txt"), Remote(_WIKITEXT + "test.txt")),
        ),
        Resource(
            "imdb", "Large Movie Review Dataset (aclImdb v1, 50k reviews)",
            {"aclImdb/README": None},
            remotes=(Remote("https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
                            known_hash="c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"),),
            note="also accepts the 50k-review CSV as <data dir>/imdb/IMDB Dataset.csv",
        ),
    )
}


def cache_dir() -> Path:
    """The per-user cache folder (platform-specific, e.g. ~/.cache/mt2st on Linux). Without
    pooch (a lent GPU machine has none, and nothing can be installed there) local data is still
    read: the cache is then the XDG folder pooch would name on Linux."""
    try:
        import pooch
    except ImportError:
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mt2st"
    return Path(pooch.os_cache("mt2st"))


def search_dirs(data_dir: str | Path | None = None) -> list[Path]:
    """Folders searched for data, in order: explicit ``data_dir``, ``$MT2ST_DATA_DIR``, the cache."""
    dirs: list[Path] = []
    if data_dir is not None:
        dirs.append(Path(data_dir).expanduser())
    elif os.environ.get(ENV_VAR):
        dirs.append(Path(os.environ[ENV_VAR]).expanduser())
    dirs.append(cache_dir())
    return dirs


def locate(name: str, data_dir: str | Path | None = None, download: bool = True,
           accept=None) -> Path:
    """Return the folder holding resource ``name``'s files, downloading them if needed.

    ``accept(folder) -> bool`` lets a loader accept alternative layouts (e.g. IMDB's CSV).
    Raises DataNotFoundError naming every folder searched and the environment variable to set.
    """
    resource = RESOURCES[name]
    searched = []
    for base in search_dirs(data_dir):
        folder = base / name
        searched.append(folder)
        if not resource.missing(folder) or (accept is not None and accept(folder)):
            return folder
    reason = "no download source is known"
    if download and resource.remotes and not os.environ.get(OFFLINE_ENV_VAR):
        try:
            return _download(resource)
        except Exception as exc:  # network errors come in many types; report, don't hide
            reason = (f"download from {source_url(resource.remotes[0].url)} failed: "
                      f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    elif resource.remotes:
        why = "downloads are disabled" if not download else f"{OFFLINE_ENV_VAR} is set"
        reason = f"{why} (source: {source_url(resource.remotes[0].url)})"
    hint = f" ({resource.note})" if resource.note else ""
    raise DataNotFoundError(
        f"dataset {name!r} not found; searched {', '.join(str(s) for s in searched)}; {reason}. "
        f"Set {ENV_VAR} (or pass --data-dir) to a folder containing {name}/ with "
        f"{', '.join(resource.files)}{hint}"
    )


def _untar_data(fname: str, action: str, pup) -> list[str]:
    """pooch processor: extract a tar archive next to it with tarfile's "data" filter (no
    absolute paths, no links out of the folder, no device files, no setuid bits)."""
    import tarfile

    dest = Path(fname).parent
    with tarfile.open(fname) as tar:
        members = tar.getmembers()
        if action != "fetch" or not all((dest / m.name).exists() for m in members if m.isfile()):
            tar.extractall(dest, filter="data")
    return [str(dest / m.name) for m in members if m.isfile()]


def _download(resource: Resource) -> Path:
    """Fetch a resource into the cache with pooch and verify each file's pinned sha256."""
    try:
        import pooch
    except ImportError:
        raise DataNotFoundError(f"{resource.name}: not found locally, and downloading it needs "
                                f"pooch (pip install pooch), which is not installed") from None
    folder = cache_dir() / resource.name
    downloader = pooch.HTTPDownloader(timeout=30, progressbar=True)
    for remote in resource.remotes:
        if remote.members or remote.url.endswith((".tar.gz", ".zip")):
            processor = pooch.Unzip(extract_dir=".") if remote.url.endswith(".zip") else _untar_data
            extracted = pooch.retrieve(source_url(remote.url), known_hash=remote.known_hash,
                                       path=folder, processor=processor, downloader=downloader)
            for ours, member in remote.members.items():
                src = next(Path(p) for p in extracted if Path(p).as_posix().endswith(member))
                (folder / ours).write_bytes(src.read_bytes())
        else:
            fname = remote.url.rsplit("/", 1)[-1]
            pooch.retrieve(source_url(remote.url), known_hash=resource.files.get(fname),
                           path=folder, fname=fname, downloader=downloader)
    if resource.build is not None:
        resource.build(folder)
    for fname, digest in resource.files.items():
        if digest is not None and pooch.file_hash(str(folder / fname)) != digest:
            (folder / fname).unlink()
            raise DataNotFoundError(f"{folder / fname}: sha256 does not match the pinned {digest}")
    if resource.missing(folder):
        raise DataNotFoundError(f"download of {resource.name} lacks {resource.missing(folder)}")
    return folder


def describe(name: str, data_dir: str | Path | None = None) -> tuple[Path | None, str]:
    """Where resource ``name`` is found (without downloading), or why not: for ``data list``."""
    resource = RESOURCES[name]
    for base in search_dirs(data_dir):
        folder = base / name
        if not resource.missing(folder):
            return folder, "local copy"
        if name == "imdb" and (folder / "IMDB Dataset.csv").is_file():
            return folder, "local copy (CSV)"
    where = ", ".join(str(b / name) for b in search_dirs(data_dir))
    if resource.remotes:
        urls = [source_url(r.url) for r in resource.remotes]
        listed = " and ".join(urls) if len(urls) <= 2 else f"{urls[0]} (+{len(urls) - 1} more files)"
        return None, f"download from {listed} (no copy in {where})"
    return None, f"not found in {where}; {resource.note}"
