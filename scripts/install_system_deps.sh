#!/usr/bin/env bash
# Install the Debian/Ubuntu packages gs_perception needs outside pip, only when some are missing:
#   - EGL + Mesa for headless pyrender rendering (PYOPENGL_PLATFORM=egl; llvmpipe on CPU, the NVIDIA
#     driver's EGL on a GPU machine),
#   - python3-venv when `$PYTHON -m venv` cannot work (Debian/Ubuntu split venv/ensurepip out of python3),
#   - chromium (+ a font) for the viewer's browser tests (test/viewer/test_browser.py: headless, software
#     WebGL, driven by Playwright from pip; Playwright's own browser download is never used).
# Idempotent: with nothing missing it only runs dpkg-query and exits 0.
# Uses apt-get as root, else `sudo -n` (never prompts); otherwise prints the command to run and exits 1.
# On systems without dpkg it prints a note and exits 0 (install the equivalents yourself).
set -euo pipefail

PYTHON="${PYTHON:-python3}"
PACKAGES=(libegl1 libegl-mesa0 libgl1-mesa-dri libgl1 chromium fonts-dejavu-core)

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install_system_deps: no dpkg on this system; make sure EGL + Mesa (libEGL, Mesa DRI drivers) and" \
        "Python's venv module are installed. Continuing." >&2
    exit 0
fi

# python3-venv is only a system package for the distribution's own python (/usr/bin/python3*); pyenv, conda
# or uv pythons ship venv and ensurepip themselves.
if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    pyver="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    PACKAGES+=("python3-venv" "python${pyver}-venv")
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

echo "install_system_deps: missing Debian packages: ${missing[*]}"
cmd=(apt-get install -y --no-install-recommends "${missing[@]}")
if [[ "$(id -u)" -eq 0 ]]; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive "${cmd[@]}"
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo -n apt-get update
    sudo -n env DEBIAN_FRONTEND=noninteractive "${cmd[@]}"
else
    echo "install_system_deps: cannot install them without root (and sudo needs a password or is absent)." >&2
    echo "Run this once, then re-run make:" >&2
    echo "    sudo apt-get update && sudo ${cmd[*]}" >&2
    exit 1
fi
