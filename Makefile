# kvd: generate, lint and co-simulate the KV-Direct processor.
# `make demo` runs the main job on the default configuration; `make test` is
# what CI runs. Both install what they need (tools/setup).

GO      ?= go
KVD     := bin/kvd
PRESETS := sim paper
TMP     := $(shell mktemp -d 2>/dev/null || echo /tmp/kvd-make)

.PHONY: all setup build rtl rtl-check lint test demo regress synth handoff clean

all: build

setup:
	@tools/setup

build:
	$(GO) build -o $(KVD) ./cmd/kvd

# Regenerate the committed RTL of every preset.
rtl: build
	@for p in $(PRESETS); do $(KVD) rtl --config $$p --out rtl/$$p || exit 1; done

# Fail when `make rtl` would change the committed tree.
rtl-check: build
	@for p in $(PRESETS); do \
	  $(KVD) rtl --config $$p --out $(TMP)/rtl/$$p >/dev/null || exit 1; \
	  if ! diff -r rtl/$$p $(TMP)/rtl/$$p >/dev/null; then \
	    echo "rtl/$$p is stale: run 'make rtl' and commit the result"; diff -r rtl/$$p $(TMP)/rtl/$$p | head -20; exit 1; \
	  fi; \
	done; echo "rtl/ is up to date"
	@rm -rf $(TMP)

lint: setup build
	@for p in $(PRESETS); do echo "== rtl/$$p"; $(KVD) lint rtl/$$p || exit 1; done

test: setup build
	@unformatted=$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 45m ./...
	@$(MAKE) --no-print-directory rtl-check

demo: setup build
	$(KVD) demo

# The whole catalogue: every scenario, 8 seeds, X-sensitivity, the paper's
# sizes, merged coverage and JUnit in runs/regress. (make test runs the quick
# subset through go test.)
regress: setup build
	$(KVD) regress --out runs/regress

# The synthesis gate over every block of the sim preset, printed (Yosys's
# generic, Xilinx and Intel mappings; see kvd synth --help).
synth: setup build
	$(KVD) synth

# The FPGA handoff bundle of the paper preset in build/handoff/: RTL, file list,
# FuseSoC core, SDC/XDC, Vivado and Quartus scripts, and a manifest with the
# lint, regression and synthesis-gate results of this exact RTL; rewrites
# docs/synthesis.md. Reproducible: two runs give the same bytes. Slow: the
# gate synthesises every block three ways — hours for the paper processor on
# 2 cores — unless synth/runs records this exact RTL's runs (see its README;
# --record-runs refreshes them).
handoff: setup build
	$(KVD) handoff --out build/handoff --doc docs/synthesis.md

clean:
	rm -rf bin
