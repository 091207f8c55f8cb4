# One entry point for people and CI. `make test` and `make train` create .venv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# torch is capped at 2.14.1 (pip constraint on the dev machines); override for other platforms,
# e.g. make install TORCH="torch==2.14.1 torchvision==0.29.1 --index-url https://download.pytorch.org/whl/cpu"
TORCH  ?= torch==2.14.1 torchvision==0.29.1
STAMP  := $(VENV)/.installed
PKGS   := packages/common packages/sr-image packages/sr-video packages/prd-metric packages/tempered-gan packages/rae
ARGS   ?=

.PHONY: help install lock train test test-full lint format bench weights clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt $(addsuffix /pyproject.toml,$(PKGS))
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -c constraints.txt $(addprefix -e ,$(PKGS)) --group dev
	touch $(STAMP)

install: $(STAMP)  ## create .venv with every package installed editable, at the versions of constraints.txt

lock: $(STAMP)  ## rewrite constraints.txt from .venv (after a deliberate upgrade; then make test)
	{ sed -n '1,3p' constraints.txt; $(PY) -m pip freeze --exclude-editable \
	  | grep -viE '^(torch|torchvision|triton|nvidia-[a-z0-9-]*|cuda-[a-z0-9-]*)=='; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

train: $(STAMP)  ## default experiment: EnhanceNet-PAT on the embedded images (ARGS="..." for overrides)
	$(PY) tools/train.py $(ARGS)

test: $(STAMP)  ## ruff + the fast test suite (no slow/gpu tests); what CI runs
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -m "not slow and not gpu" $(ARGS)

test-full: $(STAMP)  ## every test, slow and gpu included
	$(PY) -m pytest $(ARGS)

lint: $(STAMP)  ## ruff lint and format check
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: $(STAMP)  ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

bench: $(STAMP)  ## speed: Lightning vs plain loops (EnhanceNet, GAN + lens, autoencoders); PRD vs scikit-learn
	$(PY) benchmarks/bench_enhancenet.py $(ARGS)
	$(PY) benchmarks/bench_prd.py
	$(PY) benchmarks/bench_tempered_gan.py --steps 10 --blocks 2
	$(PY) benchmarks/bench_rae.py --base-channels 16 --eval --eval-samples 899

weights: $(STAMP)  ## pre-fetch pretrained weights (VGG-19, ResNet-50, AlexNet, FID Inception) for offline machines
	$(PY) tools/fetch_weights.py $(ARGS)

clean:  ## remove run outputs and caches (keeps .venv)
	rm -rf logs outputs multirun wandb .pytest_cache .ruff_cache
