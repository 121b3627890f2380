"""plugins/strategy/mitogen_linear.py: mitogen's strategy when installed, Ansible's linear otherwise."""

from __future__ import annotations

import configparser
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "plugins" / "strategy" / "mitogen_linear.py"


def load_plugin(name: str):
    spec = importlib.util.spec_from_file_location(name, PLUGIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ansible_cfg_names_the_repo_strategy():
    config = configparser.ConfigParser()
    config.read(ROOT / "ansible.cfg")
    assert config["defaults"]["strategy"] == PLUGIN.stem
    assert (ROOT / config["defaults"]["strategy_plugins"] / PLUGIN.name).is_file()


def test_mitogen_strategy_when_installed():
    from ansible_mitogen.strategy import StrategyMixin  # requirements.txt pins mitogen

    assert issubclass(load_plugin("quote_strategy_with_mitogen").StrategyModule, StrategyMixin)


def test_linear_strategy_and_a_warning_without_mitogen(monkeypatch, capsys):
    from ansible.plugins.strategy.linear import StrategyModule as Linear

    # None in sys.modules makes `import ansible_mitogen...` raise ImportError.
    monkeypatch.setitem(sys.modules, "ansible_mitogen", None)
    monkeypatch.delitem(sys.modules, "ansible_mitogen.plugins.strategy.mitogen_linear", raising=False)
    assert load_plugin("quote_strategy_without_mitogen").StrategyModule is Linear
    assert "mitogen is not installed" in capsys.readouterr().err
