# vgpu build. `make run` starts the mediator on its embedded defaults; `make test` passes the
# tests. Both install what they need on a fresh machine (npm packages; Debian -dev packages).

SHELL := /bin/bash
CUDA_HOME ?= /usr/local/cuda
CC ?= cc
NODE ?= node
B := build

ifeq ($(wildcard $(CUDA_HOME)/include/cuda.h),)
$(error CUDA toolkit headers not found at $(CUDA_HOME)/include/cuda.h. Install the CUDA toolkit (13.x) or set CUDA_HOME)
endif

CWARN := -Wall -Wextra -Werror -Wno-unused-parameter
CFLAGS_COMMON := -std=c11 -g -fPIC -fvisibility=hidden -D_GNU_SOURCE $(CWARN) -I$(CUDA_HOME)/include
OPT ?= -O2
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# ---- sources --------------------------------------------------------------------------------
# common/: C compiled into both the guest libcuda.so.1 and softgpu (each keeps its copy hidden).
SHARED_C_SRC := $(sort $(wildcard common/gen/*.c))
SHARED_C_HDR := $(wildcard common/*.h common/gen/*.h)
SHARED_C_INC := -Icommon -Icommon/gen
GUEST_COMMON_SRC := $(sort $(wildcard guest/common/impl/*.c))
GUEST_CUDA_SRC := $(sort $(wildcard guest/cuda/impl/*.c guest/cuda/gen/*.c))
GUEST_NVML_SRC := $(sort $(wildcard guest/nvml/impl/*.c guest/nvml/gen/*.c))
SOFTGPU_SRC := $(sort $(wildcard softgpu/api/*.c softgpu/ptx/*.c))
GUEST_HDR := $(wildcard guest/*/impl/*.h guest/*/gen/*.h) $(SHARED_C_HDR)
SOFTGPU_HDR := $(wildcard softgpu/api/*.h softgpu/ptx/*.h) $(SHARED_C_HDR)
# Include folders of every guest build (libcuda, libnvidia-ml, the guest tests).
GUEST_INC := -Iguest/common/impl -Iguest/common/gen -Iguest/cuda/gen $(SHARED_C_INC)

# The mediator's AF_VSOCK listener helper (src/native/vsock-listen.c; docs/virtual-machines.md).
VSOCK_LISTEN := $(B)/native/vgpu-vsock-listen
VSOCK_LISTEN_SRC := src/native/vsock-listen.c src/native/relay.c
# The executor's native hot path (src/native/hotpath.c; docs/executors.md, "Native hot path").
HOTPATH := $(B)/native/libvgpu-hotpath.so
HOTPATH_SRC := src/native/hotpath.c
HOTPATH_HDR := src/native/hotpath.h src/native/gen/hot-ops.h src/native/gen/hot-kinds.h
# The executor zygote's fork and descriptor passing (src/native/zygote.c; docs/executors.md, "Zygote").
ZYGOTE := $(B)/native/libvgpu-zygote.so
ZYGOTE_SRC := src/native/zygote.c
LIBCUDA := $(B)/guest/libcuda.so.1
LIBNVML := $(B)/guest/libnvidia-ml.so.1
# The guest's check (docs/guest.md, "Checking a guest"); installed with the libraries.
VGPU_DOCTOR := $(B)/guest/vgpu-doctor
SOFTGPU := $(B)/softgpu/libvgpu-softgpu.so
TSSTAMP := $(B)/.ts-built

.PHONY: all deps native ts ui screenshots gen gen-check spec-check curesult-refresh run test test-c test-hotpath test-ts bench fuzz burst soak clean deb
all: native ts ui

# ---- dependencies ---------------------------------------------------------------------------
# openssl: the CLI the TLS tests and the bench make certificates with; it brings libssl.so.3, which
# the guest library loads at run time for tls: servers (never linked: no headers needed). zsh: the
# test of 'vgpu-admin completion zsh' runs the script it prints.
DEB_PKGS := libzstd-dev liblz4-dev openssl zsh
# chromium: the browser the dashboard's end-to-end tests drive (test/e2e/dashboard.test.ts).
DEB_TEST_PKGS := chromium
# Installs the Debian packages of $(1) that are missing.
define install-debs
	@mkdir -p $(B)
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing Debian packages:$$missing"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null || \
	  { echo "error: could not install$$missing (need root and Debian's package mirror)"; exit 1; }; fi
	@touch $@
endef
$(B)/.deps-deb:
	$(call install-debs,$(DEB_PKGS))
$(B)/.deps-test-deb:
	$(call install-debs,$(DEB_TEST_PKGS))

node_modules/.package-lock.json: package.json $(wildcard package-lock.json)
	@# better-sqlite3 builds from source where its prebuilt binary cannot be downloaded; node-gyp
	@# then needs Node's headers, which it would also download: use Debian's (nodejs-dev) instead.
	@if [ -z "$${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then export npm_config_nodedir=/usr; fi; \
	echo "installing npm packages"; npm ci --no-audit --no-fund --loglevel=error || npm install --no-audit --no-fund --loglevel=error
	@touch $@

deps: $(B)/.deps-deb node_modules/.package-lock.json

# ---- native libraries -----------------------------------------------------------------------
native: $(LIBCUDA) $(LIBNVML) $(VGPU_DOCTOR) $(SOFTGPU) $(VSOCK_LISTEN) $(HOTPATH) $(ZYGOTE)

$(LIBCUDA): $(GUEST_COMMON_SRC) $(GUEST_CUDA_SRC) $(SHARED_C_SRC) $(GUEST_HDR) guest/cuda/gen/exports.map | $(B)/.deps-deb
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(OPT) $(GUEST_INC) -Iguest/cuda/impl -shared \
	  -Wl,-soname,libcuda.so.1 -Wl,--version-script=guest/cuda/gen/exports.map -Wl,-z,defs \
	  -o $@ $(GUEST_COMMON_SRC) $(GUEST_CUDA_SRC) $(SHARED_C_SRC) -lpthread -ldl
	@ln -sf libcuda.so.1 $(@D)/libcuda.so

# Opens libcuda.so.1 with dlopen rather than linking it, so that a wrong library is reported.
$(VGPU_DOCTOR): guest/doctor/vgpu-doctor.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -g $(OPT) -D_GNU_SOURCE $(CWARN) -o $@ $< -ldl

$(SOFTGPU): $(SOFTGPU_SRC) $(SHARED_C_SRC) $(SOFTGPU_HDR) softgpu/exports.map | $(B)/.deps-deb
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(OPT) $(SHARED_C_INC) -shared -Wl,--version-script=softgpu/exports.map -Wl,-z,defs \
	  -o $@ $(SOFTGPU_SRC) $(SHARED_C_SRC) -lpthread -lm -lzstd -llz4

$(VSOCK_LISTEN): $(VSOCK_LISTEN_SRC) src/native/relay.h
	@mkdir -p $(@D)
	$(CC) -std=c11 $(OPT) -D_GNU_SOURCE $(CWARN) -o $@ $(VSOCK_LISTEN_SRC)

$(HOTPATH): $(HOTPATH_SRC) $(HOTPATH_HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(OPT) -Isrc/native -shared -Wl,-z,defs -o $@ $(HOTPATH_SRC) -lpthread -ldl

$(ZYGOTE): $(ZYGOTE_SRC) src/native/zygote.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(OPT) -Isrc/native -shared -Wl,-z,defs -o $@ $(ZYGOTE_SRC) -ldl

# Sanitizer builds of the same sources, used by the C tests.
$(B)/asan/libvgpu-softgpu.so: $(SOFTGPU_SRC) $(SHARED_C_SRC) $(SOFTGPU_HDR) softgpu/exports.map | $(B)/.deps-deb
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) -O1 $(SAN) $(SHARED_C_INC) -shared -Wl,--version-script=softgpu/exports.map \
	  -o $@ $(SOFTGPU_SRC) $(SHARED_C_SRC) -lpthread -lm -lzstd -llz4

# ---- TypeScript -----------------------------------------------------------------------------
TS_SRC := $(shell find src tools test -name '*.ts' -o -name '*.cts' 2>/dev/null)
EXECUTOR_BUNDLE := dist/src/executor/executor.bundle.cjs
EXECUTOR_CODE_CACHE := dist/src/executor/executor.bundle.cache
ts: $(TSSTAMP) $(EXECUTOR_BUNDLE) $(EXECUTOR_CODE_CACHE)
$(TSSTAMP): $(TS_SRC) tsconfig.json node_modules/.package-lock.json
	@mkdir -p $(B)
	npx tsc -p tsconfig.json
	@touch $@

# The executor as the mediator starts it (docs/executors.md, "Launch form"): its modules bundled
# into one script (esbuild) and V8's code cache of that script, so that a session's new Node
# process neither loads ~100 modules one by one nor compiles them.
$(EXECUTOR_BUNDLE) $(EXECUTOR_CODE_CACHE) &: $(TSSTAMP)
	$(NODE) dist/tools/executor-bundle/main.js

# ---- the dashboard (docs/dashboard.md) --------------------------------------------------------
# ui/ is type-checked against the API's own types, then bundled by esbuild (Preact, uPlot) into
# dist/ui, which the mediator serves at /ui/.
UI := dist/ui/index.html
UI_SRC := $(shell find ui -type f 2>/dev/null) src/admin/schemas.ts
ui: $(UI)
$(UI): $(UI_SRC) node_modules/.package-lock.json
	npx tsc -p ui/tsconfig.json
	npx esbuild ui/src/main.tsx --bundle --format=esm --target=es2022 --jsx=automatic --jsx-import-source=preact \
	  --minify --sourcemap --log-level=warning --outfile=dist/ui/app.js
	cp ui/index.html $@

# Pictures of the dashboard for docs/dashboard.md: two VMs running guests on softgpu.
screenshots: $(B)/.deps-test-deb native ts ui
	VGPU_SCREENSHOTS=docs/images $(NODE) --test dist/test/e2e/dashboard.test.js

# ---- generated code -------------------------------------------------------------------------
gen: node_modules/.package-lock.json
	npx tsc -p tools/codegen/tsconfig.json && $(NODE) dist/tools/codegen/main.js
	@# The admin API's OpenAPI document comes from its route table and zod schemas.
	$(MAKE) --no-print-directory ts && $(NODE) dist/src/admin/openapi.js --write docs/admin-api.md

gen-check: gen
	@git diff --exit-code --stat -- guest/cuda/gen guest/common/gen common/gen src/executor/gen src/protocol/gen src/native/gen \
	  docs/compatibility.md docs/protocol.md docs/admin-api.md || \
	  { echo "error: generated files differ from spec/; run 'make gen' and commit"; exit 1; }

spec-check:
	bash tools/codegen/spec-check.sh $(CUDA_HOME)

# Re-extracts spec/curesult.tsv from NVIDIA's libcuda.so.1 (fetched from Debian) and the toolkit's cudart.
curesult-refresh: ts
	CUDA_HOME=$(CUDA_HOME) $(NODE) dist/tools/curesult/refresh.js

# ---- C tests --------------------------------------------------------------------------------
SOFTGPU_TESTS := $(sort $(filter-out softgpu/tests/test-ptx%,$(wildcard softgpu/tests/test-*.c)))
$(B)/tests/softgpu-tests: $(SOFTGPU_TESTS) softgpu/tests/runner.c $(wildcard softgpu/tests/*.h) $(B)/asan/libvgpu-softgpu.so
	@mkdir -p $(@D)
	$(CC) -std=c11 -g -O1 -D_GNU_SOURCE $(CWARN) $(SAN) -I$(CUDA_HOME)/include -Isoftgpu/tests \
	  -o $@ softgpu/tests/runner.c $(SOFTGPU_TESTS) -L$(B)/asan -Wl,-rpath,$(abspath $(B)/asan) -lvgpu-softgpu -lpthread -lm

include softgpu/ptx/tests.mk
include guest/nvml/nvml.mk
include guest/tests/tests.mk

# The helper's relay over socketpairs (its AF_VSOCK side is never opened by the tests).
$(B)/tests/relay-tests: test/native/test-relay.c test/native/check.h src/native/relay.c src/native/relay.h
	@mkdir -p $(@D)
	$(CC) -std=c11 -g -O1 -D_GNU_SOURCE $(CWARN) $(SAN) -Isrc/native -Itest/native -o $@ test/native/test-relay.c src/native/relay.c -lpthread

# The hot path driven over a socketpair against the sanitizer build of softgpu.
$(B)/tests/hotpath-tests: test/native/test-hotpath.c test/native/check.h $(HOTPATH_SRC) $(HOTPATH_HDR) $(B)/asan/libvgpu-softgpu.so
	@mkdir -p $(@D)
	$(CC) -std=c11 -g -O1 -D_GNU_SOURCE $(CWARN) $(SAN) -I$(CUDA_HOME)/include -Isrc/native -Itest/native -o $@ test/native/test-hotpath.c $(HOTPATH_SRC) -lpthread -ldl

# The zygote's calls outside Node.
$(B)/tests/zygote-tests: test/native/test-zygote.c test/native/check.h $(ZYGOTE_SRC) src/native/zygote.h
	@mkdir -p $(@D)
	$(CC) -std=c11 -g -O1 -D_GNU_SOURCE $(CWARN) $(SAN) -Isrc/native -Itest/native -o $@ test/native/test-zygote.c $(ZYGOTE_SRC) -ldl

test-hotpath: $(B)/tests/hotpath-tests
	$(B)/tests/hotpath-tests $(abspath $(B)/asan/libvgpu-softgpu.so)

test-c: $(B)/tests/softgpu-tests $(B)/tests/ptx-tests $(B)/tests/guest-tests $(B)/tests/relay-tests $(B)/tests/hotpath-tests $(B)/tests/zygote-tests
	ASAN_OPTIONS=detect_leaks=0 $(B)/tests/softgpu-tests
	ASAN_OPTIONS=detect_leaks=0 $(B)/tests/ptx-tests
	ASAN_OPTIONS=detect_leaks=0 $(B)/tests/guest-tests
	ASAN_OPTIONS=detect_leaks=0 $(B)/tests/relay-tests
	$(B)/tests/hotpath-tests $(abspath $(B)/asan/libvgpu-softgpu.so)
	$(B)/tests/zygote-tests

# ---- TypeScript and end-to-end tests --------------------------------------------------------
test-ts: $(B)/.deps-test-deb native ts ui
	$(NODE) --test --test-concurrency=1 $$(find dist/test -name '*.test.js' | sort)

test: deps native ts test-c test-ts

# ---- run ------------------------------------------------------------------------------------
run: deps native ts
	bin/vgpu-mediator --no-config --state-dir $${VGPU_STATE_DIR:-$$HOME/.local/state/vgpu} --listen unix:$${VGPU_SOCKET:-/tmp/vgpu.sock} --backend auto --default-vm local

# ---- packages -------------------------------------------------------------------------------
# The host package (docs/operations.md, "Packages"): what this checkout built, under /usr/lib/vgpu.
DEB = $(B)/vgpu_$(shell $(NODE) -p 'require("./package.json").version')_$(shell dpkg --print-architecture).deb
deb: deps native ts ui
	bash deploy/deb/build.sh $(DEB)

bench: deps native ts
	$(NODE) dist/test/bench/main.js

# The live fuzzer against a running mediator (docs/security.md): VGPU_FUZZ_FRAMES (default 1000000)
# and VGPU_FUZZ_SEED (default 1) choose the run; `make test` runs 20000 frames of it.
fuzz: deps native ts
	$(NODE) dist/test/fuzz/main.js

# Long robustness runs, never part of `make test` (docs/operations.md): BURSTS bursts of BURST_SIZE
# guests started at once; and SOAK_MINUTES of random verified work with executors killed at random
# (and the mediator too, every SOAK_MEDIATOR_KILL_EVERY_S seconds on average, when set).
burst: deps native ts
	$(NODE) dist/test/soak/burst.js

soak: deps native ts
	$(NODE) dist/test/soak/soak.js

clean:
	rm -rf $(B) dist
