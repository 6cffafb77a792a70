"""Run the CNI plugin: ``python -m pykube_control.cni`` behaves as the ``pykube-cni`` executable."""

from pykube_control.cni.plugin import main

raise SystemExit(main())
