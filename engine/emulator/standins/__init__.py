"""Stand-in ``istioctl`` and ``helm`` executables for the cluster emulator.

Each is a module with ``main(argv) -> int``; the emulator writes wrapper scripts that call them and puts
those first on PATH. They talk to the emulated API server only through kubeclient (stdlib HTTP), so a run
starts fast, and they read the emulator's fault ConfigMap to fail on purpose when a test asks them to.
"""
