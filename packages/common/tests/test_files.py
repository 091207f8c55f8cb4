"""atomic_output: a result appears complete or not at all."""

import pytest

from gen_common.files import atomic_output


def test_atomic_output_replaces_only_on_success(tmp_path):
    dst = tmp_path / "result.json"
    dst.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(dst) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".json" and tmp != dst
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert dst.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]
    with atomic_output(dst) as tmp:
        tmp.write_text("new")
    assert dst.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]
