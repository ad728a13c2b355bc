#!/usr/bin/env bash
# Manual check (not a test, not run by CI): the fused C++ CPU rasteriser (gs_perception/core/cpu_kernel/
# rasterize.cpp) cross-compiled for aarch64 (ARMv8-A, NEON) passes test/core/test_rasterize_cpp.py, run on
# an aarch64 CPython + torch under user-mode QEMU on an x86-64 Debian 12 host. Also prints which source lines
# GCC vectorised for aarch64 and, for comparison, for x86-64 -march=haswell (AVX2).
#
# Usage:   bash benchmarks/check_aarch64.sh            (about 5 min the first time, 3-4 min after)
# Env:     AARCH64_DIR   work folder, everything goes there          (default /tmp/aarch64)
#          TORCH_WHL     an aarch64 cp311 torch wheel to use         (default: looked for in $AARCH64_DIR/whl
#                        and /tmp/whl, else downloaded from PyPI; the version is the venv's torch)
#          THREADS       OMP_NUM_THREADS values to run the tests at  (default "1 2")
#          QEMU_CPU      CPU model for qemu-aarch64, e.g. cortex-a72 (default: qemu's "max")
#          VENV_PY       the project's venv python                   (default <repo>/.venv/bin/python)
# Needs:   Debian 12 (apt-get, as root or with passwordless sudo), the Debian and PyPI mirrors.
# Idempotent: each setup step is skipped when its result is there (delete $AARCH64_DIR to start over); the
# extension and the vectorisation reports are rebuilt when rasterize.cpp is newer than them. Writes nothing
# inside the repository (bytecode goes to $AARCH64_DIR/pycache, pytest's cache is off).
#
# Why the detours:
#  - QEMU: bookworm's qemu-user-static (7.2) passes the host's x86 /proc/cpuinfo through, and torch's cpuinfo
#    (cpuinfo_arm_linux_init) then segfaults while importing torch. QEMU >= 8.1 emulates an ARM
#    /proc/cpuinfo, so qemu-user 10.0 is taken from bookworm-backports (static binaries, unpacked here only).
#  - CUDA: the PyPI aarch64 torch wheel is a CUDA build. Its CPU libraries (libtorch_cpu, libtorch_python,
#    torch/_C) list libcudart, libcupti, libcudnn, libcufile, libnccl, libtorch_cuda and libc10_cuda as
#    DT_NEEDED, and import torch fails without them. Instead of the nvidia-* packages, small stand-ins with
#    the same sonames are generated: they define exactly the symbols those CPU libraries import from them
#    (found with readelf), every function aborts naming itself if called, and they are LD_PRELOADed so the
#    real libtorch_cuda.so is never loaded. torch.distributed is switched off (see the pytest plugin below),
#    as in a torch built without it, because its bindings construct NCCL objects at import.
#  - The extension is built like torch.utils.cpp_extension.load builds it (same -D, -std=c++20, the
#    project's flags, -march=armv8-a instead of native, -lc10 -ltorch_cpu -ltorch -ltorch_python) and linked
#    against the wheel's own libgomp, the one loaded at run time. A pytest plugin puts it in place of the JIT
#    build: gs_perception.core.cpu_kernel._extension is replaced by a function returning it.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${AARCH64_DIR:-/tmp/aarch64}"
VENV_PY="${VENV_PY:-$REPO/.venv/bin/python}"
THREADS="${THREADS:-1 2}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SRC="$REPO/gs_perception/core/cpu_kernel/rasterize.cpp"
ROOT="$DIR/root"        # aarch64 Debian 12 files (python3.11, libc, libstdc++), unpacked, never booted
SITE="$DIR/site"        # aarch64 torch + test dependencies (pip --target)
STUBS="$DIR/stubs"      # the CUDA stand-ins
BUILD="$DIR/build"      # the cross-built extension and the vectorisation reports
QEMU="$DIR/qemu/usr/bin/qemu-aarch64"
EXT_NAME=gs_rasterize_cpu_aarch64
EXT="$BUILD/$EXT_NAME.cpython-311-aarch64-linux-gnu.so"
mkdir -p "$DIR" "$BUILD" "$DIR/logs" "$DIR/plugin"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
log() { printf '\n== %s\n' "$*"; }

# apt-get with its own sources, lists and download folder under $DIR/$1 (the system's apt setup is not
# touched): apt_private NAME "deb ..." [apt-get args...]
apt_private() {
    local d="$DIR/$1" src="$2"
    shift 2
    mkdir -p "$d/lists/partial" "$d/archives/partial"
    echo "$src" >"$d/sources.list"
    (cd "$d" && apt-get -q -o Dir::Etc::SourceList="$d/sources.list" -o Dir::Etc::SourceParts=/dev/null \
        -o Dir::State::Lists="$d/lists" -o Dir::Cache::Archives="$d/archives" -o Dir::Cache::pkgcache= \
        -o Dir::Cache::srcpkgcache= -o APT::Sandbox::User=root "$@")
}

# 1. Host tools: the aarch64 cross compiler (GCC 12), binutils (readelf), the host g++ (haswell report),
#    debootstrap.
log "1. host tools"
missing=()
for tool_pkg in aarch64-linux-gnu-g++:g++-aarch64-linux-gnu aarch64-linux-gnu-readelf:binutils-aarch64-linux-gnu \
    g++:g++ debootstrap:debootstrap; do
    command -v "${tool_pkg%%:*}" >/dev/null || missing+=("${tool_pkg#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    $SUDO apt-get update -q && $SUDO apt-get install -y -q "${missing[@]}"
fi
aarch64-linux-gnu-g++ --version | head -1

# 2. QEMU user mode >= 8.1 (see the top), unpacked from bookworm-backports' qemu-user (static binaries).
log "2. qemu-user (bookworm-backports)"
if [ ! -x "$QEMU" ]; then
    apt_private apt-backports "deb $MIRROR bookworm-backports main" update
    rm -f "$DIR"/apt-backports/qemu-user_*.deb
    apt_private apt-backports "deb $MIRROR bookworm-backports main" download qemu-user/bookworm-backports
    dpkg -x "$DIR"/apt-backports/qemu-user_*.deb "$DIR/qemu"
fi
"$QEMU" --version | head -1

# 3. An aarch64 Debian 12 root with python3.11 and its headers. debootstrap's first stage (--foreign) runs no
#    target binary; it unpacks only the base set, so every downloaded .deb is unpacked here with dpkg -x.
log "3. aarch64 root (debootstrap --foreign, python3 + libpython3.11-dev)"
if [ ! -x "$ROOT/usr/bin/python3.11" ] || [ ! -f "$ROOT/usr/include/aarch64-linux-gnu/python3.11/pyconfig.h" ]; then
    $SUDO rm -rf "$ROOT"
    $SUDO debootstrap --foreign --arch=arm64 --variant=minbase --include=python3,libpython3.11-dev bookworm \
        "$ROOT" "$MIRROR" >"$DIR/logs/debootstrap.log"
    for deb in "$ROOT"/var/cache/apt/archives/*.deb; do $SUDO dpkg -x "$deb" "$ROOT"; done
fi
PYVER="$(dpkg-deb -f "$(ls "$ROOT"/var/cache/apt/archives/python3.11-minimal_*.deb)" Version)"
echo "Debian arm64 python3.11 $PYVER"

# 4. aarch64 torch and the pure-Python test dependencies at the venv's versions; --no-deps keeps the nvidia-*
#    CUDA packages out.
log "4. aarch64 site-packages"
TORCH_VER="$("$VENV_PY" -c 'import importlib.metadata as m; print(m.version("torch"))')"
TORCH_VER="${TORCH_VER%%+*}"
if [ ! -f "$SITE/.done-$TORCH_VER" ]; then
    whl="${TORCH_WHL:-}"
    if [ -z "$whl" ]; then
        whl="$(ls "$DIR"/whl/torch-"$TORCH_VER"-cp311-cp311-*aarch64.whl /tmp/whl/torch-"$TORCH_VER"-cp311-cp311-*aarch64.whl \
            2>/dev/null | head -1 || true)"
    fi
    if [ -z "$whl" ]; then
        "$VENV_PY" -m pip download -q --no-deps --platform manylinux_2_28_aarch64 --python-version 3.11 \
            --implementation cp --abi cp311 --only-binary=:all: -d "$DIR/whl" "torch==$TORCH_VER"
        whl="$(ls "$DIR"/whl/torch-"$TORCH_VER"-cp311-cp311-*aarch64.whl | head -1)"
    fi
    pins="$("$VENV_PY" - <<'EOF'
import importlib.metadata as m
names = ["numpy", "typing_extensions", "sympy", "mpmath", "filelock", "jinja2", "markupsafe", "networkx",
         "fsspec", "pytest", "iniconfig", "packaging", "pluggy", "pygments"]
out = []
for n in names:
    try:
        out.append(f"{n}=={m.version(n)}")
    except m.PackageNotFoundError:
        out.append(n)
print(" ".join(out))
EOF
)"
    rm -rf "$SITE"
    # shellcheck disable=SC2086  # $pins is a list of requirements
    "$VENV_PY" -m pip install -q --no-deps --target "$SITE" --platform manylinux_2_28_aarch64 --python-version 3.11 \
        --implementation cp --abi cp311 --only-binary=:all: "$whl" $pins
    touch "$SITE/.done-$TORCH_VER"
fi
echo "torch $TORCH_VER for aarch64 in $SITE"

# 5. The CUDA stand-ins (see the top): for every DT_NEEDED library of torch's CPU libraries that the wheel
#    does not provide for CPU use, a shared library with that soname defining what they import from it.
log "5. CUDA stand-in libraries"
if [ ! -f "$STUBS/.done" ] || [ "$SITE/.done-$TORCH_VER" -nt "$STUBS/.done" ]; then
    rm -rf "$STUBS" && mkdir -p "$STUBS"
    "$VENV_PY" - "$SITE" "$ROOT" "$STUBS" <<'EOF'
"""Writes STUBS/<stem>.c, <stem>.map and libs.txt ("<soname> <stem>" lines): abort-on-call stand-ins."""
import collections, os, re, subprocess, sys

site, root, out = sys.argv[1:4]
tl = f"{site}/torch/lib"
CUDA_PART = re.compile(r"cuda|nvrtc|nvshmem")  # the wheel's own CUDA libraries, never loaded here


def readelf(*args):
    return subprocess.run(["aarch64-linux-gnu-readelf", "-W", *args], capture_output=True, text=True,
                          check=True).stdout


def symbols(path):
    """(name, version or None, type, size, section, bind) of each dynamic symbol."""
    res = []
    for ln in readelf("--dyn-syms", path).splitlines():
        p = ln.split()
        if len(p) < 8 or not p[0].endswith(":") or not p[0][:-1].isdigit():
            continue
        name, _, ver = p[7].partition("@")
        res.append((name, ver.lstrip("@") or None, p[3], int(p[2], 0), p[6], p[4]))
    return res


def needed(path):
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", readelf("-d", path))


def version_files(path):
    """Version name -> the library file it is required from (the Version needs section)."""
    res, file = {}, None
    text = readelf("-V", path)
    for ln in text[text.find("Version needs"):].splitlines():
        if m := re.search(r"File: (\S+)", ln):
            file = m.group(1)
        elif m := re.search(r"Name: (\S+)", ln):
            res[m.group(1)] = file
    return res


# What `import torch` loads on a CPU-only path, and what provides symbols to it.
consumers = [f"{site}/torch/_C.cpython-311-aarch64-linux-gnu.so"] + [
    f"{tl}/{n}" for n in ("libtorch.so", "libtorch_cpu.so", "libtorch_python.so", "libc10.so", "libshm.so",
                          "libtorch_global_deps.so")]
cpu_libs = {n for n in os.listdir(tl) if ".so" in n and not CUDA_PART.search(n)}
sysdir = f"{root}/usr/lib/aarch64-linux-gnu"
providers = set(consumers) | {f"{tl}/{n}" for n in cpu_libs} | {f"{root}/usr/bin/python3.11"} | {
    f"{sysdir}/{n}" for n in ("libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "libpthread.so.0",
                              "libdl.so.2", "librt.so.1")}
stubbed = sorted({n for c in consumers for n in needed(c)} - cpu_libs - set(os.listdir(sysdir))
                 - {"ld-linux-aarch64.so.1"})
provided = {s[0] for p in providers for s in symbols(p) if s[4] != "UND"}
real_cuda = {n: {s[0]: (s[2], s[3]) for s in symbols(f"{tl}/{n}") if s[4] != "UND"}
             for n in stubbed if os.path.exists(f"{tl}/{n}")}  # libtorch_cuda.so, libc10_cuda.so

want = collections.defaultdict(dict)  # soname -> symbol -> (type, size, version)
for c in consumers:
    vfile = version_files(c)
    for name, ver, typ, size, ndx, bind in symbols(c):
        if ndx != "UND" or bind == "WEAK" or not name:
            continue
        if ver:
            if vfile.get(ver) in stubbed:
                want[vfile[ver]][name] = (typ, 0, ver)
            continue
        if name in provided:
            continue
        owner = next((n for n, defs in real_cuda.items() if name in defs), None)
        if owner:
            want[owner][name] = (*real_cuda[owner][name], None)
        else:  # unversioned and defined nowhere here: any preloaded stand-in serves it; pick by prefix
            lib = next((n for n in stubbed if name.lower().startswith(n[3:].split(".")[0])), "libtorch_cuda.so")
            want[lib][name] = (typ, 0, None)

# Functions torch calls while importing (with torch.distributed off); each returns a reference to a global
# that libtorch_python then assigns, so they get storage instead of an abort.
RETURNS_STORAGE = {"_ZN4c10d15get_gil_checkerEv"}  # c10d::get_gil_checker()
with open(f"{out}/libs.txt", "w") as libs:
    for lib in stubbed:
        stem = lib.split(".so")[0]
        libs.write(f"{lib} {stem}\n")
        c = [f"/* Generated by benchmarks/check_aarch64.sh: abort-on-call stand-in for {lib}. */",
             "#include <stdio.h>", "#include <stdlib.h>",
             "extern char _ZTVN10__cxxabiv117__class_type_infoE[];",
             f'static void die(const char *n) {{ fprintf(stderr, "{lib} stand-in: %s called\\n", n); abort(); }}']
        versions = collections.defaultdict(list)
        for i, (name, (typ, size, ver)) in enumerate(sorted(want[lib].items())):
            versions[ver].append(name)
            if name.startswith("_ZTI"):
                # A C++ typeinfo: pybind11 registers the bound classes by typeid at import, so it must be a
                # valid std::type_info: {__class_type_info's vtable + 16, the mangled name}.
                c.append(f'struct {{ const void *vp; const char *nm; void *pad[6]; }} o{i} __asm__("{name}") = '
                         f'{{ _ZTVN10__cxxabiv117__class_type_infoE + 16, "{name[4:]}" }};')
            elif typ in ("OBJECT", "TLS"):
                c.append(f'char o{i}[{max(size, 64)}] __asm__("{name}") __attribute__((aligned(16)));')
            elif name in RETURNS_STORAGE:
                c.append(f'static void *r{i}[32];\nvoid *f{i}(void) __asm__("{name}");\n'
                         f'void *f{i}(void) {{ return r{i}; }}')
            else:
                c.append(f'void f{i}(void) __asm__("{name}");\nvoid f{i}(void) {{ die("{name}"); }}')
        with open(f"{out}/{stem}.c", "w") as f:
            f.write("\n".join(c) + "\n")
        # The version script: nodes named as the consumers require them (libcudart.so.13 ...), else one
        # anonymous node; an unversioned reference is also served by a versioned definition.
        named = {v: names for v, names in versions.items() if v}
        if named:
            named[next(iter(named))] += versions.get(None, [])
            nodes = [f"{v} {{ global: {'; '.join(names)}; }};" for v, names in named.items()]
            nodes[-1] = nodes[-1][:-3] + " local: *; };"
        else:
            nodes = [f"{{ global: {'; '.join(versions.get(None, [])) or '*'}; local: *; }};"]
        with open(f"{out}/{stem}.map", "w") as f:
            f.write("\n".join(nodes) + "\n")
        print(f"  {lib}: {len(want[lib])} symbols")
EOF
    while read -r lib stem; do
        aarch64-linux-gnu-gcc -shared -fPIC -O1 -Wl,-soname,"$lib" -Wl,--version-script,"$STUBS/$stem.map" \
            -o "$STUBS/$lib" "$STUBS/$stem.c" -lstdc++
    done <"$STUBS/libs.txt"
    touch "$STUBS/.done"
fi
PRELOAD="$(awk -v d="$STUBS" '{printf "%s%s/%s", (NR > 1 ? ":" : ""), d, $1}' "$STUBS/libs.txt")"
echo "LD_PRELOAD (inside the emulation only): $PRELOAD"

# 6. The pytest plugin (torch.distributed off before torch loads, the cross-built module in place of the JIT
#    build), then a first import torch under emulation.
cat >"$DIR/plugin/gs_aarch64_plugin.py" <<'EOF'
"""pytest plugin for benchmarks/check_aarch64.sh (written by it; not part of the project).

1. torch.distributed is switched off before torch loads, as in a torch build without USE_DISTRIBUTED: its
   c10d bindings construct NCCL objects from libtorch_cuda.so at import, which here is an abort-on-call
   stand-in (no CUDA libraries are installed for aarch64).
2. gs_perception.core.cpu_kernel._extension is replaced by the cross-built module ($GS_AARCH64_EXTENSION)
   instead of the JIT build, which would need a native aarch64 compiler.
"""

import importlib.machinery
import importlib.util
import os
import platform
import sys

_DISTRIBUTED_INITS = ("_c10d_init", "_rpc_init", "_dist_autograd_init", "_faulty_agent_init")


class _TorchWithoutDistributed:
    """Meta-path finder: loads torch._C as usual, then removes the init functions whose presence is how
    torch.distributed (and rpc, dist_autograd) decide that they are available."""

    def find_spec(self, name, path=None, target=None):
        if name != "torch._C":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        exec_module = spec.loader.exec_module

        def exec_without_distributed(module):
            exec_module(module)
            for attr in _DISTRIBUTED_INITS:
                if hasattr(module, attr):
                    delattr(module, attr)

        spec.loader.exec_module = exec_without_distributed
        return spec


sys.meta_path.insert(0, _TorchWithoutDistributed())
_module = None


def load_extension():
    path = os.environ["GS_AARCH64_EXTENSION"]
    spec = importlib.util.spec_from_file_location(os.path.basename(path).split(".")[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pytest_configure(config):
    # After test/conftest.py (configure_threads) has imported torch.
    global _module
    import gs_perception.core.cpu_kernel as cpu_kernel

    _module = load_extension()
    cpu_kernel._extension = lambda: _module


def pytest_terminal_summary(terminalreporter):
    # Shown with -q too (the report header is not).
    import torch

    terminalreporter.write_line(
        f"aarch64 check: machine={platform.machine()} python={platform.python_version()} "
        f"torch={torch.__version__} threads={torch.get_num_threads()} "
        f"distributed={torch.distributed.is_available()} module={_module.__file__}"
    )
EOF

# Environment of every emulated run: bytecode is cached under $DIR/pycache (it shortens the ~30 s torch import
# under emulation), never inside the repository; no cache in ~/.cache/gs_perception either.
run_env=(env GS_AARCH64_EXTENSION="$EXT" PYTHONPATH="$REPO:$DIR/plugin:$SITE" PYTHONPYCACHEPREFIX="$DIR/pycache"
    PYTHONDONTWRITEBYTECODE=
    GS_PERCEPTION_CACHE="$DIR/cache" ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST)
emulate() { "${run_env[@]}" "$QEMU" -E LD_PRELOAD="$PRELOAD" -L "$ROOT" "$ROOT/usr/bin/python3.11" "$@"; }

# (oneDNN prints "Can't open MIDR_EL1 sysfs entry" under emulation: its CPU probe; harmless.)
log "6. import torch under emulation"
(cd "$REPO" && OMP_NUM_THREADS=1 emulate -c "import gs_aarch64_plugin, torch, platform
x = torch.randn(64, 64)
print(platform.machine(), torch.__version__, 'cpu capability', torch.backends.cpu.get_cpu_capability(),
      'matmul ok' if torch.allclose(x @ x.T, (x @ x.T).T, atol=1e-4) else 'MATMUL WRONG')")

# 7. Cross-compile the extension (cpp_extension.load's flags, -march=armv8-a) and keep GCC's vectorisation
#    report; link against the wheel's libgomp. Then the same file's report for x86-64 haswell.
log "7. cross-compile $EXT_NAME"
TI="$SITE/torch/include"
if [ ! -f "$EXT" ] || [ "$SRC" -nt "$EXT" ]; then
    aarch64-linux-gnu-g++ -DTORCH_EXTENSION_NAME=$EXT_NAME -DTORCH_API_INCLUDE_EXTENSION_H -isystem "$TI" \
        -isystem "$TI/torch/csrc/api/include" -isystem "$ROOT/usr/include/python3.11" -idirafter "$ROOT/usr/include" \
        -fPIC -std=c++20 -O3 -fopenmp -ffp-contract=off -fno-trapping-math -march=armv8-a \
        -fopt-info-vec-optimized -c "$SRC" -o "$BUILD/rasterize.o" 2>"$BUILD/vec-aarch64.log" ||
        { cat "$BUILD/vec-aarch64.log"; exit 1; }
    aarch64-linux-gnu-g++ "$BUILD/rasterize.o" -shared -fopenmp "$SITE/torch/lib/libgomp.so.1" -L"$SITE/torch/lib" \
        -lc10 -ltorch_cpu -ltorch -ltorch_python -Wl,-rpath-link,"$SITE/torch/lib:$STUBS" -o "$EXT"
fi
file "$EXT" | sed "s|$DIR/||"
if [ ! -f "$BUILD/vec-haswell.log" ] || [ "$SRC" -nt "$BUILD/vec-haswell.log" ]; then
    # shellcheck disable=SC2046  # one -isystem per include directory
    g++ -DTORCH_EXTENSION_NAME=gs_rasterize_cpu_haswell -DTORCH_API_INCLUDE_EXTENSION_H $("$VENV_PY" -c "
import logging, sysconfig; logging.disable(logging.WARNING)
from torch.utils.cpp_extension import include_paths
print(' '.join('-isystem ' + p for p in include_paths() + [sysconfig.get_paths()['include']]))") \
        -fPIC -std=c++20 -O3 -fopenmp -ffp-contract=off -fno-trapping-math -march=haswell \
        -fopt-info-vec-optimized -c "$SRC" -o /dev/null 2>"$BUILD/vec-haswell.tmp" ||
        { cat "$BUILD/vec-haswell.tmp"; exit 1; }
    mv "$BUILD/vec-haswell.tmp" "$BUILD/vec-haswell.log"
fi

# 8. The test file under emulation, once per thread count.
status=0
summaries=()
for t in $THREADS; do
    log "8. pytest test/core/test_rasterize_cpp.py, OMP_NUM_THREADS=$t, qemu cpu ${QEMU_CPU:-max}"
    start=$(date +%s)
    rc=0  # pytest's exit status (pipefail)
    (cd "$REPO" && OMP_NUM_THREADS=$t emulate -m pytest -q -p no:cacheprovider -p gs_aarch64_plugin \
        test/core/test_rasterize_cpp.py) 2>&1 | tee "$DIR/logs/pytest-threads$t.log" | tail -n 25 || rc=$?
    [ "$rc" -eq 0 ] || status=1
    summaries+=("threads=$t: $(grep -E '[0-9]+ (passed|failed|errors?|skipped)' "$DIR/logs/pytest-threads$t.log" |
        tail -1 | tr -d '=' | sed 's/^ *//;s/ *$//') (wall $(($(date +%s) - start)) s incl. start-up)")
done

# 9. Summary: the pytest lines, then the vectorised loops (source line: vector bytes).
vec_lines() {
    grep -E 'rasterize\.cpp:[0-9]+:[0-9]+: optimized: loop vectorized using' "$1" |
        sed -E 's/.*rasterize\.cpp:([0-9]+):[0-9]+: .* using ([0-9]+) byte vectors.*/\1 \2/' | sort -u -k1,1n -k2,2n |
        awk '{if ($1 in b) b[$1] = b[$1] "+" $2; else b[$1] = $2} END {for (l in b) print l ":" b[l]}' | sort -n | tr '\n' ' '
}
log "summary"
echo "qemu: $("$QEMU" --version | head -1); cross: $(aarch64-linux-gnu-g++ --version | head -1); python3.11 $PYVER (Debian arm64)"
for s in "${summaries[@]}"; do echo "pytest $s"; done
echo "loops vectorised (line:bytes), aarch64 -march=armv8-a (NEON): $(vec_lines "$BUILD/vec-aarch64.log")"
echo "loops vectorised (line:bytes), x86-64 -march=haswell (AVX2):  $(vec_lines "$BUILD/vec-haswell.log")"
exit $status
