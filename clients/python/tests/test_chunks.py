"""How sources are cut into chunks (no service needed)."""

from __future__ import annotations

import io
import os

import pytest

from gantry_artifacts import iter_chunks


def test_bytes_are_cut_into_chunks_of_the_size_asked() -> None:
    data = os.urandom(10_000)
    chunks = list(iter_chunks(data, 4096))
    assert [len(chunk) for chunk in chunks] == [4096, 4096, 1808]
    assert b"".join(chunks) == data
    assert list(iter_chunks(bytearray(data), 4096)) == chunks
    assert list(iter_chunks(memoryview(data), 4096)) == chunks


def test_pieces_of_an_iterable_are_joined_and_split_into_full_chunks() -> None:
    data = os.urandom(50_000)
    cuts = [0, 1, 1, 7, 4096, 4100, 20_000, 20_001, 45_000, 50_000]
    pieces = [data[start:stop] for start, stop in zip(cuts, cuts[1:])]
    chunks = list(iter_chunks(iter(pieces), 4096))
    assert b"".join(chunks) == data
    assert all(len(chunk) == 4096 for chunk in chunks[:-1])
    assert 0 < len(chunks[-1]) <= 4096


def test_a_file_object_is_read_from_where_it_stands(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(9000)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    assert b"".join(iter_chunks(str(path), 1000)) == data
    assert b"".join(iter_chunks(path, 1000)) == data
    with open(path, "rb") as file:
        file.seek(100)
        assert b"".join(iter_chunks(file, 1000)) == data[100:]
    with open(path, "rb", buffering=0) as raw:
        assert [len(chunk) for chunk in iter_chunks(raw, 4000)] == [4000, 4000, 1000]


def test_nothing_yields_no_chunk() -> None:
    assert list(iter_chunks(b"", 10)) == []
    assert list(iter_chunks(iter([b"", b""]), 10)) == []


def test_text_is_refused() -> None:
    with pytest.raises(TypeError, match="encode"):
        list(iter_chunks(iter(["text"]), 10))  # type: ignore[list-item]
    with pytest.raises(TypeError, match="text mode"):
        list(iter_chunks(io.StringIO("text"), 10))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        list(iter_chunks(42, 10))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        list(iter_chunks(b"x", 0))
