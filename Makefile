# bpfkern — every target installs what it needs first, so each works on a fresh machine.
SHELL := /bin/bash
NODE_BIN := node_modules/.bin
CLI := node dist/userspace/bin/bpfkern.js

.PHONY: all deps system-deps build run test bench typecheck clean

all: build

# npm ci only when the lock file changed since the last install.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

deps: node_modules/.installed system-deps

# libfuse2 is what fuse-native loads at run time; without it only the FUSE tests skip.
system-deps:
	@bash scripts/system-deps.sh

build: node_modules/.installed
	$(NODE_BIN)/tsc -p tsconfig.json

typecheck: node_modules/.installed
	$(NODE_BIN)/tsc -p tsconfig.test.json

test: deps typecheck build
	bash scripts/test.sh

run: deps build
	$(CLI) mount ./mnt --workload demo

bench: deps build
	node dist/userspace/bench/run.js

clean:
	rm -rf dist node_modules/.installed mnt
