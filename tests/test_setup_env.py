"""The set-up script hands pip's configuration to uv, so both install from the same places."""
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setup_env():
    spec = importlib.util.spec_from_file_location("setup_env", ROOT / "scripts" / "setup_env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pip_configuration_becomes_uv_options(tmp_path, monkeypatch):
    config = tmp_path / "pip.conf"
    config.write_text("[global]\nextra-index-url = file:///a/simple file:///b/simple\nconstraint = /c.txt\n"
                      "timeout = 60\n")  # fmt: skip
    # pip reads this file last, over the machine's own files; the other two settings come from
    # the environment, which wins over every file (as in pip)
    monkeypatch.setenv("PIP_CONFIG_FILE", str(config))
    for name in ("PIP_EXTRA_INDEX_URL", "PIP_CONSTRAINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_FIND_LINKS", "/wheels")
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example/simple")
    options = _setup_env().pip_settings(sys.executable)
    pairs = list(zip(options[::2], options[1::2]))
    assert sorted(pairs) == [("--constraint", "/c.txt"), ("--extra-index-url", "file:///a/simple"),
                             ("--extra-index-url", "file:///b/simple"), ("--find-links", "/wheels"),
                             ("--index-url", "https://mirror.example/simple")]  # fmt: skip


def test_the_uv_override_names_an_installed_package():
    lines = [line for line in (ROOT / "scripts" / "uv-overrides.txt").read_text().splitlines()
             if line and not line.startswith("#")]  # fmt: skip
    assert lines == ["qpsolvers"]
    from importlib.metadata import requires

    assert "qpsolvers[open_source_solvers]" in requires("avalanche-lib")  # what the override evens out
