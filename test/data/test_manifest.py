"""The JSON-lines manifest: durable appends, torn lines from crashes, last entry wins."""

from __future__ import annotations

from gs_perception.data.manifest import ManifestEntry, append_entry, read_manifest, rewrite_manifest


def _entry(object_id: str, status: str = "ok", psnr: float | None = 30.0) -> ManifestEntry:
    return ManifestEntry(object_id, object_id.split("/")[0], "train", status, psnr_test=psnr, num_gaussians=7)


def test_round_trip_and_last_line_wins(tmp_path):
    path = tmp_path / "manifest.jsonl"
    assert read_manifest(path) == {}
    append_entry(path, _entry("a/1", "error", None))
    append_entry(path, _entry("a/2"))
    append_entry(path, _entry("a/1"))
    entries = read_manifest(path)
    assert list(entries) == ["a/1", "a/2"] and entries["a/1"] == _entry("a/1") and entries["a/1"].ok
    rewrite_manifest(path, list(entries.values()))
    assert len(path.read_text().splitlines()) == 2 and read_manifest(path) == entries


def test_a_torn_last_line_is_skipped_and_the_next_append_is_not_glued_to_it(tmp_path, capsys):
    path = tmp_path / "manifest.jsonl"
    append_entry(path, _entry("a/1"))
    with open(path, "a") as f:
        f.write(_entry("a/2").to_json()[:25])  # a crash in the middle of writing a line
    assert list(read_manifest(path)) == ["a/1"]
    assert "manifest.jsonl:2" in capsys.readouterr().err
    append_entry(path, _entry("a/3"))
    assert list(read_manifest(path)) == ["a/1", "a/3"]


def test_unknown_keys_from_newer_versions_are_ignored(tmp_path):
    path = tmp_path / "manifest.jsonl"
    path.write_text(_entry("a/1").to_json()[:-1] + ', "future_field": 1}\n')
    assert read_manifest(path)["a/1"] == _entry("a/1")
