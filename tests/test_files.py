"""_files.py: temporary names within NAME_MAX for any file name; a full disk recognised."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from urbanshrink_gis import _files, export

NAMES = (
    st.lists(
        st.sampled_from([*"ab Z09_-.[]{}()'&,;=+#@!~", "城", "市", "{year}", "ä", "🙂"]),
        min_size=1,
        max_size=120,
    )
    .map("".join)
    .filter(lambda s: s.strip(".") and "/" not in s)
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stem=NAMES, pad=st.integers(0, 251))
@example(stem="a", pad=250)
@example(stem="城", pad=200)
def test_temporary_names_stay_within_name_max(tmp_path, stem, pad):
    name = (stem + "x" * pad).encode()[:251].decode("utf-8", errors="ignore") + ".csv"
    assert len(os.fsencode(name)) <= 255
    path = tmp_path / "t" / name
    path.parent.mkdir(exist_ok=True)
    export.write_table(pd.DataFrame({"a": [1]}), path, overwrite=True)
    assert pd.read_csv(path)["a"].tolist() == [1]
    assert len(os.fsencode(_files.temp_prefix(path))) + 8 + len(".csv") <= 255
    assert sorted(os.listdir(path.parent)) == [name]
    path.unlink()


@given(
    st.text(st.characters(exclude_characters="/\0", exclude_categories=["Cs"]), min_size=1),
    st.sampled_from(["", ".csv", ".gpkg", ".tif", ".x" * 20]),
)
@example("城" * 85, ".csv")
def test_temp_prefix_fits_any_name(stem, suffix):
    name = os.fsencode(stem)[: 255 - len(suffix)].decode("utf-8", errors="ignore") + suffix
    assume(name.strip(".") != "" and (Path("/x") / name).name == name)
    prefix = _files.temp_prefix(Path("/x") / name)
    kept = Path(name).suffix if len(os.fsencode(Path(name).suffix)) <= 16 else ""
    assert len(os.fsencode(prefix)) + 8 + len(os.fsencode(kept)) <= 255
    assert prefix.startswith(".") and prefix.endswith(".")
    assert Path(name).stem.startswith(prefix[1:-1])


def test_disk_full_recognises_errno_and_gdal_messages():
    assert _files.disk_full(OSError(errno.ENOSPC, "x"))
    assert _files.disk_full(OSError(errno.EDQUOT, "x"))
    try:
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as err:
            raise RuntimeError("writing failed") from err
    except RuntimeError as wrapped:
        assert _files.disk_full(wrapped)
    assert _files.disk_full(RuntimeError(f"TIFFWriteTile: {os.strerror(errno.ENOSPC)}"))
    assert not _files.disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not _files.disk_full(ValueError("nothing to do with disks"))
