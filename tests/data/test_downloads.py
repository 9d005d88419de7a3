"""Verified WMT downloads against a local HTTP server (127.0.0.1) serving damaged archives.

Each test serves a small generated .tgz and checks that the downloader either recovers (503, a body cut
short, a stall past the timeout) or refuses with one DataError naming the file and the fault (junk,
wrong size, persistent failure), and that nothing unverified is ever left under the final name.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from wmt_server import ArchiveServer, listing, make_tgz, md5, sha256

from transformer_lab import prepare as prepare_cli
from transformer_lab.data import DataError
from transformer_lab.data.wmt import download as download_module
from transformer_lab.data.wmt import extract as extract_module
from transformer_lab.data.wmt.download import ARCHIVES, ArchiveRecord, Downloader
from transformer_lab.data.wmt.manifest import Manifest
from transformer_lab.data.wmt.prepare import TASKS, Task, fetch, write_layout

REL = "wmt14/dev.tgz"
PATH = "/" + REL
DEV = make_tgz({"dev/newstest2013-src.en.sgm": b"<srcset>" + b"x" * 3000 + b"</srcset>\n",
                "dev/newstest2013-ref.de.sgm": b"<refset>" + b"y" * 3000 + b"</refset>\n",
                "dev/other.txt": b"not wanted\n"})
TINY_TASK = Task("en", "de", archives=(REL,), train=(), dev=("newstest2013-src.en.sgm", "newstest2013-ref.de.sgm"),
                 test=("newstest2013-src.en.sgm", "newstest2013-ref.de.sgm"))


def record_of(data: bytes, size: bool = True) -> ArchiveRecord:
    return ArchiveRecord(len(data) if size else None, md5(data), sha256(data), "test archive")


def downloader(server: ArchiveServer, records: dict[str, ArchiveRecord] | None = None, retries: int = 2,
               waits: list[float] | None = None) -> Downloader:
    sleep = waits.append if waits is not None else (lambda _: None)
    return Downloader(server.url, records or {REL: record_of(DEV)}, timeout=0.3, retries=retries,
                      backoff=0.01, progress=False, sleep=sleep)


@pytest.fixture
def server():
    with ArchiveServer() as running:
        running.files[PATH] = DEV
        yield running


# ---- recovery ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("first", ["503", "short", "stall", "silent"])
def test_a_failed_first_answer_is_retried_and_the_result_verified(server, tmp_path: Path, first: str) -> None:
    server.plan[PATH] = [first, "good"]
    waits: list[float] = []
    path, sums = downloader(server, waits=waits).fetch(REL, tmp_path)
    assert path.read_bytes() == DEV and sums["md5"] == md5(DEV)
    assert waits == [0.01] and listing(tmp_path) == {"dev.tgz"}  # no .part left behind


def test_a_body_cut_short_is_resumed_with_a_range_request(server, tmp_path: Path) -> None:
    server.plan[PATH] = ["short", "good"]
    downloader(server).fetch(REL, tmp_path)
    assert server.requests == [(PATH, None), (PATH, f"bytes={len(DEV) // 2}-")]


def test_a_server_ignoring_range_restarts_the_file(server, tmp_path: Path) -> None:
    server.plan[PATH] = ["short", "ignore-range"]
    path, _ = downloader(server).fetch(REL, tmp_path)
    assert path.read_bytes() == DEV  # the 200 body replaced the partial file instead of being appended


def test_retries_wait_exponentially_longer(server, tmp_path: Path) -> None:
    server.plan[PATH] = ["503", "503", "503", "good"]
    waits: list[float] = []
    downloader(server, retries=3, waits=waits).fetch(REL, tmp_path)
    assert waits == [0.01, 0.02, 0.04]


# ---- refusal -------------------------------------------------------------------------------------------
def test_junk_content_of_the_right_length_is_refused(server, tmp_path: Path) -> None:
    server.plan[PATH] = ["junk"]
    with pytest.raises(DataError, match=rf"dev\.tgz: md5 [0-9a-f]{{32}} does not match the published {md5(DEV)} .*the download was deleted"):
        downloader(server).fetch(REL, tmp_path)
    assert listing(tmp_path) == set()


def test_a_download_killed_during_verification_leaves_no_final_file(server, tmp_path: Path, monkeypatch) -> None:
    def killed(path, names=("md5", "sha256")):  # the process dies while hashing the complete download
        raise KeyboardInterrupt

    monkeypatch.setattr(download_module, "file_checksums", killed)
    with pytest.raises(KeyboardInterrupt):
        downloader(server).fetch(REL, tmp_path)
    assert listing(tmp_path) == {"dev.tgz.part"}  # unverified bytes only under the temporary name
    monkeypatch.undo()
    assert downloader(server).fetch(REL, tmp_path)[0].read_bytes() == DEV


def test_a_valid_archive_that_is_not_the_recorded_one_is_refused(server, tmp_path: Path) -> None:
    other = make_tgz({"dev/newstest2013-src.en.sgm": b"<srcset>" + b"z" * 3000 + b"</srcset>\n",
                      "dev/newstest2013-ref.de.sgm": b"<refset>" + b"y" * 3000 + b"</refset>\n",
                      "dev/other.txt": b"not wanted\n"})
    server.files[PATH] = other
    records = {REL: ArchiveRecord(len(other), md5(DEV), None, "test archive")}  # right size, wrong md5
    with pytest.raises(DataError, match="md5 .* does not match"):
        downloader(server, records).fetch(REL, tmp_path)
    assert listing(tmp_path) == set()


@pytest.mark.parametrize("size", [len(DEV) - 1, len(DEV) + 10])
def test_a_file_of_another_size_than_recorded_is_refused_before_download(server, tmp_path: Path, size: int) -> None:
    records = {REL: ArchiveRecord(size, md5(DEV), None, "test archive")}
    with pytest.raises(DataError, match=rf"announces {len(DEV)} bytes but the recorded size is {size}"):
        downloader(server, records).fetch(REL, tmp_path)
    assert listing(tmp_path) == set() and len(server.requests) == 1


@pytest.mark.parametrize(("behaviour", "message"), [
    ("short", rf"body cut short: {len(DEV) // 2} of {len(DEV)} bytes"),
    ("503", r"HTTP 503 Service Unavailable"),
    ("stall", r"timeout: no data for 0\.3 s after \d+ bytes"),
    ("silent", r"timeout: no answer within 0\.3 s"),
])
def test_a_persistent_failure_is_one_clear_error(server, tmp_path: Path, behaviour: str, message: str) -> None:
    server.plan[PATH] = [behaviour]
    with pytest.raises(DataError, match=rf"dev\.tgz: .*({message}).* \(after 2 attempts\)\. .*run prepare again"):
        downloader(server, retries=1).fetch(REL, tmp_path)
    assert "dev.tgz" not in listing(tmp_path)  # at most the .part, kept for a resume
    assert len(server.requests) == 2


def test_a_missing_file_is_not_retried(server, tmp_path: Path) -> None:
    server.plan[PATH] = ["404"]
    with pytest.raises(DataError, match=r"dev\.tgz: HTTP 404 .*--mirror"):
        downloader(server).fetch(REL, tmp_path)
    assert len(server.requests) == 1


def test_a_file_without_a_record_is_refused(server, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"wmt14/unknown\.tgz: no recorded size/checksum"):
        downloader(server).fetch("wmt14/unknown.tgz", tmp_path)
    assert server.requests == []


@pytest.mark.parametrize("mirror", ["www.statmt.org", "ftp://mirror.example/wmt"])
def test_a_mirror_must_be_an_http_url(mirror: str) -> None:
    with pytest.raises(DataError, match="not an http"):
        Downloader(mirror)


def test_size_only_records_still_compare_with_content_length(server, tmp_path: Path) -> None:
    server.plan[PATH] = ["short"]
    with pytest.raises(DataError, match="body cut short"):
        downloader(server, {REL: record_of(DEV, size=False)}, retries=0).fetch(REL, tmp_path)
    assert "dev.tgz" not in listing(tmp_path)


def test_the_progress_bar_path_downloads_the_same_bytes(server, tmp_path: Path) -> None:
    server.plan[PATH] = ["short", "good"]
    loader = downloader(server)
    loader.progress = True
    assert loader.fetch(REL, tmp_path)[0].read_bytes() == DEV


# ---- fetch: manifest, existing files, extraction -------------------------------------------------------
def test_fetch_extracts_and_a_rerun_touches_nothing(server, tmp_path: Path) -> None:
    fetch(TINY_TASK, tmp_path, downloader=downloader(server))
    assert listing(tmp_path) == {"dev.tgz", "manifest.json", "newstest2013-src.en.sgm", "newstest2013-ref.de.sgm"}
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    fetch(TINY_TASK, tmp_path, downloader=downloader(server))
    assert len(server.requests) == 1  # verified and extracted: nothing fetched again
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize("existing", [b"junk that is not empty", DEV[: len(DEV) // 2]])
def test_an_existing_file_is_verified_not_trusted(server, tmp_path: Path, existing: bytes) -> None:
    (tmp_path / "dev.tgz").write_bytes(existing)  # left by an older version, or copied in by hand
    fetch(TINY_TASK, tmp_path, downloader=downloader(server))
    assert (tmp_path / "dev.tgz").read_bytes() == DEV and len(server.requests) == 1


def test_an_existing_correct_file_is_verified_and_kept(server, tmp_path: Path) -> None:
    (tmp_path / "dev.tgz").write_bytes(DEV)
    fetch(TINY_TASK, tmp_path, downloader=downloader(server))
    assert server.requests == [] and "newstest2013-src.en.sgm" in listing(tmp_path)


def test_an_archive_changed_after_verification_is_checked_again(server, tmp_path: Path) -> None:
    fetch(TINY_TASK, tmp_path, downloader=downloader(server))
    (tmp_path / "dev.tgz").write_bytes(DEV[:-1] + bytes([DEV[-1] ^ 1]))  # same size, one bit flipped
    fetch(TINY_TASK, tmp_path, downloader=downloader(server))
    assert (tmp_path / "dev.tgz").read_bytes() == DEV and len(server.requests) == 2


@pytest.mark.parametrize("manifest", [b"{not json", b"\xff\xfe binary", b'["a list"]'])
def test_an_unreadable_manifest_means_everything_is_verified_again(server, tmp_path: Path, manifest: bytes) -> None:
    fetch(TINY_TASK, tmp_path, downloader=downloader(server))
    (tmp_path / "dev.tgz").write_bytes(b"x" * len(DEV))  # damaged, and the manifest cannot vouch for it
    (tmp_path / "manifest.json").write_bytes(manifest)
    fetch(TINY_TASK, tmp_path, downloader=downloader(server))
    assert (tmp_path / "dev.tgz").read_bytes() == DEV and len(server.requests) == 2


def test_a_killed_extraction_is_redone_by_the_next_run(server, tmp_path: Path, monkeypatch) -> None:
    real_copy = shutil.copyfileobj

    def killed_midway(source, out, length=0):  # the process dies while writing the second member
        if out.name.endswith("ref.de.sgm"):
            out.write(source.read(100))
            raise KeyboardInterrupt
        real_copy(source, out, length)

    monkeypatch.setattr(extract_module.shutil, "copyfileobj", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        fetch(TINY_TASK, tmp_path, downloader=downloader(server))
    assert not {"newstest2013-src.en.sgm", "newstest2013-ref.de.sgm"} & listing(tmp_path)  # nothing half-done
    assert Manifest(tmp_path).data["extracted"] == {}
    monkeypatch.setattr(extract_module.shutil, "copyfileobj", real_copy)
    fetch(TINY_TASK, tmp_path, downloader=downloader(server))
    assert (tmp_path / "newstest2013-ref.de.sgm").read_bytes().endswith(b"y" * 100 + b"</refset>\n")
    assert listing(tmp_path) == {"dev.tgz", "manifest.json", "newstest2013-src.en.sgm", "newstest2013-ref.de.sgm"}
    assert len(server.requests) == 1  # the verified archive was not downloaded again


def test_an_extracted_file_changed_later_is_extracted_again(server, tmp_path: Path) -> None:
    fetch(TINY_TASK, tmp_path, downloader=downloader(server))
    (tmp_path / "newstest2013-src.en.sgm").write_bytes(b"truncated")
    fetch(TINY_TASK, tmp_path, downloader=downloader(server))
    assert (tmp_path / "newstest2013-src.en.sgm").read_bytes().startswith(b"<srcset>xxx")


@pytest.mark.parametrize(("content", "message"), [
    (DEV[: len(DEV) // 2], r"damaged archive"),                        # a cut gzip stream
    (make_tgz({"dev/unrelated.sgm": b"x"}), r"none of the expected files"),  # a tar without the files
])
def test_a_bad_archive_matching_its_record_is_one_error(server, tmp_path: Path, content: bytes, message: str) -> None:
    server.files[PATH] = content
    with pytest.raises(DataError, match=rf"dev\.tgz: {message}.*run prepare again"):
        fetch(TINY_TASK, tmp_path, downloader=downloader(server, {REL: record_of(content)}))
    assert listing(tmp_path) == {"dev.tgz", "manifest.json"}  # no staging directory, no extracted file


def test_a_mirror_with_every_archive_prepares_en_de(tmp_path: Path) -> None:
    task = TASKS["wmt14_en_de"]
    sgm = '<{k}set setid="x" srclang="any" trglang="{l}">\n<doc docid="d1">\n<seg id="1">{t}</seg>\n</doc>\n</{k}set>\n'
    archives = {
        task.archives[0]: {"training/europarl-v7.de-en.en": "Resumption\n", "training/europarl-v7.de-en.de": "Wiederaufnahme\n",
                           "training/europarl-v7.fr-en.en": "not for en-de\n"},
        task.archives[1]: {"commoncrawl.de-en.en": "crawl\n", "commoncrawl.de-en.de": "Kriechen\n"},
        task.archives[2]: {"training/news-commentary-v9.de-en.en": "news\n",
                           "training/news-commentary-v9.de-en.de": "Nachricht\n"},
        task.archives[3]: {"dev/newstest2013-src.en.sgm": sgm.format(k="src", l="en", t="Dev"),
                           "dev/newstest2013-ref.de.sgm": sgm.format(k="ref", l="de", t="Entw")},
        task.archives[4]: {"test-full/newstest2014-deen-src.en.sgm": sgm.format(k="src", l="en", t="Test"),
                           "test-full/newstest2014-deen-ref.de.sgm": sgm.format(k="ref", l="de", t="Prüfung")},
    }
    with ArchiveServer() as mirror:
        records = {}
        for relpath, members in archives.items():
            data = make_tgz({name: text.encode() for name, text in members.items()})
            mirror.files["/" + relpath] = data
            records[relpath] = record_of(data)
        fetch(task, tmp_path / "raw", downloader=Downloader(mirror.url, records, timeout=0.3, progress=False))
    counts = write_layout(task, tmp_path / "raw", tmp_path / "out")
    assert counts == {"train": 3, "valid": 1, "test": 1}
    assert (tmp_path / "out" / "test.de").read_text(encoding="utf-8") == "Prüfung\n"
    assert "europarl-v7.fr-en.en" not in listing(tmp_path / "raw")


def test_every_statmt_path_of_both_tasks_has_a_published_record() -> None:
    paths = {p for task in TASKS.values() for p in task.archives}
    assert paths == set(ARCHIVES)
    for relpath in paths:
        record = ARCHIVES[relpath]
        assert record.md5 and len(record.md5) == 32 and record.source, relpath


def test_cli_mirror_serving_other_files_fails_with_one_line(tmp_path: Path, capsys) -> None:
    with ArchiveServer() as mirror:
        mirror.files["/wmt13/training-parallel-europarl-v7.tgz"] = DEV  # not the real 657,632,379 bytes
        code = prepare_cli.main(["wmt14_en_de", "--out", str(tmp_path / "o"), "--mirror", mirror.url + "/"])
        assert mirror.requests[0][0] == "/wmt13/training-parallel-europarl-v7.tgz"
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert f"{mirror.url}/wmt13/training-parallel-europarl-v7.tgz: the server announces {len(DEV)} bytes" in err
    assert listing(tmp_path / "o" / "raw") == set()
