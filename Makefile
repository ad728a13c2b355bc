# gs_perception developer entry points. `make` lists the targets; `make test` is what CI (.ci/run) runs.
# Everything runs from the repository root inside the venv $(VENV), built once by `make setup`.

PYTHON ?= python3
VENV ?= .venv
PY = $(VENV)/bin/python
CONSTRAINTS = requirements/constraints.txt
# --isolated: ignore local pip config (a find-links dir with a CPU-only torch wheel that does not work with
# PyPI's torchvision; see the header of $(CONSTRAINTS) and docs/install.md).
PIP_INSTALL = $(PY) -m pip install --isolated --disable-pip-version-check
STAMP = $(VENV)/.stamp
PYTEST_ARGS ?=

# ROS 2 for the nodes and their live tests (scripts/setup_ros.sh): kilted or jazzy (PyPI wheels into the venv),
# distro (a ROS 2 install sourced in this shell; the default when $$ROS_DISTRO is set) or none.
ROS ?= $(if $(ROS_DISTRO),distro,kilted)
ROS_STAMP = $(VENV)/.ros-$(ROS).stamp
ROS_INPUTS = scripts/setup_ros.sh gs_perception/ros/msg_packages.py $(wildcard gs_perception/ros/definitions/*/*.msg) \
	$(if $(filter kilted jazzy,$(ROS)),requirements/ros-$(ROS).txt requirements/colcon.txt)
# `make test` fails instead of skipping the live ROS tests unless ROS=none (test/conftest.py).
REQUIRE_ROS = $(if $(filter none,$(ROS)),0,1)
# ... and the viewer's browser tests (Debian's chromium, installed by `make setup`) unless BROWSER_TESTS=none.
BROWSER_TESTS ?= required
REQUIRE_BROWSER = $(if $(filter none,$(BROWSER_TESTS)),0,1)

# Headless OpenGL for pyrender (EGL: Mesa llvmpipe on CPU, the NVIDIA driver on a GPU).
PYOPENGL_PLATFORM ?= egl
export PYOPENGL_PLATFORM

# CPU threads: gs-perception and the tests use one per process unless GS_PERCEPTION_THREADS says N or auto
# (core/runtime.py; `make demo GS_PERCEPTION_THREADS=2`). Where more than one runs (that, the benchmarks),
# waiting OpenMP threads must sleep, not spin: OpenMP reads this once, when torch loads (docs/benchmarks.md).
export OMP_WAIT_POLICY ?= PASSIVE

.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
.PHONY: help setup test demo demo-bundle dataset dataset-fixed dataset-hard dataset-pybullet ssl results bench lint clean distclean

help: ## list the targets
	@echo "Usage: make <target> [PYTHON=python3] [VENV=.venv] [ROS=kilted|jazzy|distro|none] [BROWSER_TESTS=none]" \
		"[PYTEST_ARGS='-k name -x']"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-14s %s\n", $$1, $$2}'

# Rebuilt only when the pins or the package metadata change, so a second `make test` installs nothing.
# --no-build-isolation: the editable build uses the pinned setuptools installed by the line before it.
$(STAMP): $(CONSTRAINTS) setup.py setup.cfg scripts/install_system_deps.sh
	PYTHON=$(PYTHON) bash scripts/install_system_deps.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -c $(CONSTRAINTS) pip setuptools
	$(PIP_INSTALL) -c $(CONSTRAINTS) --no-build-isolation -e '.[dev]'
	touch $@

# Rebuilt when the ROS choice, its pins or the owned message definitions change (each step is cached itself).
$(ROS_STAMP): $(STAMP) $(ROS_INPUTS)
	bash scripts/setup_ros.sh $(ROS) $(VENV) $(CONSTRAINTS)
	rm -f $(VENV)/.ros-*.stamp
	touch $@

# The C++ CPU rasteriser, compiled into ~/.cache/gs_perception (core/cpu_kernel); again when its source changes.
# Without this step the first render compiles it (~25 s); without a compiler the torch rasteriser is used.
KERNEL_STAMP = $(VENV)/.cpu_kernel.stamp
$(KERNEL_STAMP): $(STAMP) gs_perception/core/cpu_kernel/rasterize.cpp gs_perception/core/cpu_kernel/__init__.py
	$(PY) -m gs_perception.core.cpu_kernel
	touch $@

setup: $(STAMP) $(ROS_STAMP) $(KERNEL_STAMP) ## the venv (.venv): pinned dependencies, gs_perception (editable), ROS 2 (ROS=kilted|jazzy|distro|none), the C++ CPU rasteriser

test: setup ## run the test suite (CPU; live ROS node tests included; gpu tests skip without CUDA); args via PYTEST_ARGS
	GS_PERCEPTION_REQUIRE_ROS=$(REQUIRE_ROS) GS_PERCEPTION_REQUIRE_BROWSER=$(REQUIRE_BROWSER) \
		$(PY) -m pytest $(PYTEST_ARGS)

BUNDLE ?=
demo: $(STAMP) $(KERNEL_STAMP) ## end to end on CPU without ROS: sim bag → replay → picture, in runs/demo (BUNDLE=… for classes)
	MPLBACKEND=Agg $(PY) -m gs_perception.cli demo --out runs/demo $(if $(BUNDLE),--bundle $(BUNDLE))

dataset: $(STAMP) ## shapes10 CPU dataset (100 objects, ~30 min on 2 cores; rerun resumes) in datasets/shapes10_cpu
	MPLBACKEND=Agg $(PY) -m gs_perception.cli generate-dataset --config config/dataset_shapes10_cpu.yaml \
		--out datasets/shapes10_cpu

dataset-fixed: $(STAMP) ## the same with the study's grey material (what the documented encoders train on)
	MPLBACKEND=Agg $(PY) -m gs_perception.cli generate-dataset --config config/dataset_shapes10_cpu_fixed.yaml \
		--out datasets/shapes10_cpu_fixed

dataset-hard: $(STAMP) ## shapes10hard CPU dataset (600 objects, 45-75 min on 2 cores; rerun resumes) in datasets/shapes10hard_cpu
	MPLBACKEND=Agg $(PY) -m gs_perception.cli generate-dataset --config config/dataset_shapes10hard_cpu.yaml \
		--out datasets/shapes10hard_cpu

dataset-pybullet: $(STAMP) ## the instance-level set: pybullet's random + real meshes, two fits each (~15 min) in datasets/pybullet_cpu
	MPLBACKEND=Agg $(PY) -m gs_perception.cli generate-dataset --config config/dataset_pybullet_cpu.yaml \
		--out datasets/pybullet_cpu

SEEDS ?= 0 1 2
SSL_FLAGS = --epochs 180 --batch-size 12 --optimiser adam --lr 1e-3 --sample-num-points 1024 \
	--sample-feature-groups xyz scale rot opacity --sample-crop-augment 0.3 --model-fusion-mode compare
ssl: $(STAMP) ## SSL on datasets/shapes10_cpu_fixed, one run per seed in parallel, then evaluate → runs/shapes10/eval
	for seed in $(SEEDS); do OMP_NUM_THREADS=1 $(PY) -m gs_perception.cli train-ssl --quiet \
		--dataset datasets/shapes10_cpu_fixed --out runs/shapes10/ssl_s$$seed --seed $$seed $(SSL_FLAGS) & \
		done; wait
	MPLBACKEND=Agg $(PY) -m gs_perception.cli evaluate --out runs/shapes10/eval \
		--runs $(foreach seed,$(SEEDS),runs/shapes10/ssl_s$(seed))

results: $(STAMP) $(KERNEL_STAMP) ## issue 14's benchmark end to end (dataset-hard, recipes chosen on val, 3 seeds on test) → docs/results.md; resumes
	bash scripts/reproduce_results.sh

# The bundle shipped in the package (gs_perception/assets/README.md): what `make demo` names classes with on a
# fresh clone. The documented recipe (SSL_FLAGS) at 120 epochs, seed 0, then its image probe; int8 weights.
DEMO_RUN = runs/demo_bundle
DEMO_BUNDLE = gs_perception/assets/demo_bundle.pt
demo-bundle: dataset-fixed ## rebuild gs_perception/assets/demo_bundle.pt (~40 min on 2 cores with the dataset; resumes)
	OMP_NUM_THREADS=1 $(PY) -m gs_perception.cli train-ssl --quiet --dataset datasets/shapes10_cpu_fixed \
		--out $(DEMO_RUN)/ssl --seed 0 $(SSL_FLAGS) --epochs 120 --resume
	MPLBACKEND=Agg $(PY) -m gs_perception.cli evaluate --config config/eval_demo_bundle.yaml \
		--runs $(DEMO_RUN)/ssl --out $(DEMO_RUN)/eval
	$(PY) -m gs_perception.cli pack-bundle $(DEMO_RUN)/eval/bundle.pt --out $(DEMO_BUNDLE)

bench: $(STAMP) ## rasteriser, fitting and dataset benchmarks (print figures; not tests; ~35 min on 2 cores)
	$(PY) benchmarks/bench_rasterizer.py && $(PY) benchmarks/bench_rasterizer_cpp.py && $(PY) benchmarks/bench_fit.py && \
		$(PY) benchmarks/bench_dataset.py --fresh --out runs/bench_dataset

lint: $(STAMP) ## ruff lint + format check
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean: ## remove runs/ and caches (keeps the venv)
	rm -rf runs .pytest_cache .ruff_cache
	find . \( -path ./.git -o -path ./.venv -o -path './$(VENV)' \) -prune -o \
		-type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean ## clean, and remove the venv and build outputs
	rm -rf $(VENV) build install log *.egg-info
