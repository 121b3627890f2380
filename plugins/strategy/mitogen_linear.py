"""The linear strategy run by mitogen, which keeps one Python interpreter per host for the run.

ansible.cfg names this strategy; requirements.txt pins mitogen. A controller without mitogen
(an operator's own ansible) warns once and runs Ansible's own linear strategy, which gives the
same result, only slower.
"""

from __future__ import annotations

from ansible.utils.display import Display

try:
    from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule
except ImportError as error:
    from ansible.plugins.strategy.linear import StrategyModule

    Display().warning(f"mitogen is not installed ({error}); running the linear strategy without it")

__all__ = ["StrategyModule"]
