# Sourced by the scripts: choose the Python interpreter that runs pykube.
#
# $PYTHON wins when set. Otherwise a project virtual environment (.venv)
# wins when it exists, then python3 on PATH. Debian's own python3 refuses
# `pip install` outside a virtual environment (PEP 668, the
# EXTERNALLY-MANAGED marker); pykube_python_for_install then creates .venv
# with the system site packages visible, so Debian's python3-nftables
# module stays importable.

pykube_python() {
    if [[ -n "${PYTHON:-}" ]]; then
        echo "$PYTHON"
    elif [[ -x .venv/bin/python ]]; then
        echo ".venv/bin/python"
    else
        echo "python3"
    fi
}

pykube_externally_managed() {
    "$1" - <<'PY'
import os, sys, sysconfig
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
sys.exit(0 if os.path.exists(marker) and sys.prefix == sys.base_prefix else 1)
PY
}

pykube_python_for_install() {
    local python
    python="$(pykube_python)"
    if [[ -z "${PYTHON:-}" && "$python" == "python3" ]] && pykube_externally_managed python3; then
        echo "pykube setup: python3 is managed by Debian; creating the virtual environment .venv" >&2
        python3 -m venv --system-site-packages .venv >&2
        python=".venv/bin/python"
    fi
    echo "$python"
}
