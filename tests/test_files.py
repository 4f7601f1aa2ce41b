import pytest

from rag.files import atomic_file, atomic_write, sha256_of, sha256_text


def test_atomic_write_places_the_whole_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "report.json"
    atomic_write(target, "một")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two" and [p.name for p in tmp_path.iterdir()] == ["report.json"]
    assert sha256_of(target) == sha256_text("two")


def test_a_failed_write_places_nothing(tmp_path):
    target = tmp_path / "model.gguf"
    target.write_bytes(b"old")
    with pytest.raises(ValueError):
        with atomic_file(target) as f:
            f.write(b"half")
            assert f.name.endswith(".gguf") and f.name.split("/")[-1].startswith(".")  # hidden, same suffix
            raise ValueError("the hash did not match")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["model.gguf"]


def test_without_overwrite_an_existing_file_is_kept(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write(target, "first", overwrite=False)
    with pytest.raises(FileExistsError):
        atomic_write(target, "second", overwrite=False)
    assert target.read_text() == "first" and len(list(tmp_path.iterdir())) == 1
