"""$(NAME) references in a container's command and args expand to its environment, as the kubelet expands them."""

from __future__ import annotations

import pytest

from pykube_control.agent.cri_config import container_config

POD = {"metadata": {"name": "web-1", "namespace": "default", "uid": "u1"}, "spec": {}}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["echo $(POD_NAME)"], ["echo web-1"], id="defined"),
        pytest.param(["echo $(MISSING)"], ["echo $(MISSING)"], id="undefined-kept"),
        pytest.param(["echo $$(POD_NAME)"], ["echo $(POD_NAME)"], id="escaped"),
        pytest.param(["echo $POD_NAME"], ["echo $POD_NAME"], id="shell-syntax-untouched"),
    ],
)
def test_args_expand(args: list[str], expected: list[str]) -> None:
    container = {"name": "web", "image": "localhost/pykube/web:1", "command": ["sh", "-c"], "args": args}
    config = container_config(POD, container, node_name="n1", init=False, restart_count=0,
                              envs=[("POD_NAME", "web-1")], mounts=[])  # fmt: skip
    assert list(config.args) == expected


def test_command_expands() -> None:
    container = {"name": "web", "image": "localhost/pykube/web:1", "command": ["/bin/$(TOOL)"]}
    config = container_config(POD, container, node_name="n1", init=False, restart_count=0, envs=[("TOOL", "sh")], mounts=[])
    assert list(config.command) == ["/bin/sh"]
