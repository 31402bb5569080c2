"""qgis_install.py: the plugin copied into a QGIS profile, the profile's other settings kept."""

from click.testing import CliRunner

from urbanshrink_gis.cli import cli
from urbanshrink_gis.qgis_install import install_plugin


def test_install_keeps_other_settings_and_refuses_a_path_as_profile(tmp_path):
    ini = tmp_path / "profiles" / "work" / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True)
    ini.write_text("[General]\nlocale%5CuserLocale=zh_CN\n\n[PythonPlugins]\nother=true\n")
    target = install_plugin("work", profiles_path=tmp_path / "profiles")
    assert (target / "metadata.txt").exists() and not (target / "__pycache__").exists()
    text = ini.read_text(encoding="utf-8")
    assert "locale%5CuserLocale=zh_CN" in text and "other=true" in text
    assert "urbanshrink=true" in text
    again = install_plugin("work", profiles_path=tmp_path / "profiles")  # replaces, no mix
    assert again == target and not list(target.parent.glob(".urbanshrink-*"))
    result = CliRunner().invoke(cli, ["qgis-plugin", "install", "--profile", "../x"])
    assert result.exit_code == 2 and "is not a profile name" in result.output
