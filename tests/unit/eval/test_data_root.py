"""Which folder a task reads: decided by where its annotation files are, never by a folder's name."""

import pytest

from kangaroo.eval.formats import BenchmarkDataError, find_data_root
from kangaroo.eval.task import load_task

VIDEOMME = load_task("videomme")
MVBENCH = load_task("mvbench")
MLVU = load_task("mlvu")


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[]")
    return path


def test_a_folder_named_like_the_task_is_used_only_when_it_holds_the_annotations(tmp_path):
    # the user called their download "videomme": its own layout has videomme/ inside again
    download = tmp_path / "videomme"
    _touch(download / "videomme" / "test-00000-of-00001.parquet")
    (download / "data").mkdir()
    assert find_data_root("videomme", download, VIDEOMME.data) == download
    assert find_data_root("videomme", tmp_path, VIDEOMME.data) == download


def test_mvbench_and_mlvu_both_keep_json_folders_and_are_told_apart(tmp_path):
    _touch(tmp_path / "MVBench" / "json" / "action_sequence.json")
    _touch(tmp_path / "MVLU" / "MLVU" / "json" / "2_needle.json")
    assert find_data_root("mvbench", tmp_path, MVBENCH.data) == tmp_path / "MVBench"
    assert find_data_root("mlvu", tmp_path, MLVU.data) == tmp_path / "MVLU" / "MLVU"


def test_two_copies_are_an_error_naming_both(tmp_path):
    for copy in ("Video-MME", "Video-MME-old"):
        _touch(tmp_path / copy / "videomme" / "test-00000-of-00001.parquet")
    with pytest.raises(BenchmarkDataError, match="several folders") as caught:
        find_data_root("videomme", tmp_path, VIDEOMME.data)
    assert "Video-MME-old" in str(caught.value) and f"{tmp_path / 'Video-MME'}," in str(caught.value)
    # naming one of them settles it
    assert find_data_root("videomme", tmp_path / "Video-MME", VIDEOMME.data) == tmp_path / "Video-MME"


def test_no_annotations_names_the_file_looked_for(tmp_path):
    (tmp_path / "Video-MME" / "data").mkdir(parents=True)
    _touch(tmp_path / ".cache" / "videomme" / "test-00000-of-00001.parquet")  # hidden folders are skipped
    _touch(tmp_path / "a" / "b" / "c" / "videomme" / "test-00000-of-00001.parquet")  # too deep
    with pytest.raises(BenchmarkDataError, match=r"no videomme annotations \(videomme/test-00000-of-00001.parquet\)"):
        find_data_root("videomme", tmp_path, VIDEOMME.data)
    with pytest.raises(BenchmarkDataError, match="no such data directory"):
        find_data_root("videomme", tmp_path / "missing", VIDEOMME.data)


def test_the_task_data_options_say_which_files_count(tmp_path):
    _touch(tmp_path / "Video-MME" / "videomme" / "test.json")
    options = {**VIDEOMME.data, "annotations": "videomme/test.json"}
    assert find_data_root("videomme", tmp_path, options) == tmp_path / "Video-MME"
    with pytest.raises(BenchmarkDataError):
        find_data_root("videomme", tmp_path, VIDEOMME.data)
