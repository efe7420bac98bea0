# The guest libnvidia-ml.so.1 (guest/nvml/impl, docs/guest.md). Included by the top-level
# Makefile, which defines B, CC, CFLAGS_COMMON, OPT, SAN, GUEST_COMMON_SRC, GUEST_HDR and the
# deps stamp. Before that, build it with `make -f Makefile -f guest/nvml/nvml.mk build/guest/libnvidia-ml.so.1`.
# guest/cuda/gen/ops.c and common/gen/curesult.c come along because rpc.c names ops and results in
# its traces.

NVML_SRC := $(sort $(wildcard guest/nvml/impl/*.c))
NVML_HDR := $(wildcard guest/nvml/impl/*.h)
NVML_LIB_SRC := $(GUEST_COMMON_SRC) $(NVML_SRC) guest/cuda/gen/ops.c common/gen/curesult.c
NVML_CFLAGS := $(GUEST_INC) -Iguest/nvml/impl -shared \
  -Wl,-soname,libnvidia-ml.so.1 -Wl,--version-script=guest/nvml/impl/exports.map -Wl,-z,defs

$(B)/guest/libnvidia-ml.so.1: $(NVML_LIB_SRC) $(NVML_HDR) $(GUEST_HDR) guest/nvml/impl/exports.map
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(OPT) $(NVML_CFLAGS) -o $@ $(NVML_LIB_SRC) -lpthread
	@ln -sf libnvidia-ml.so.1 $(@D)/libnvidia-ml.so

# The sanitizer build that guest/tests/test-nvml*.c load (they dlopen it as nvidia-smi does).
$(B)/asan/libnvidia-ml.so.1: $(NVML_LIB_SRC) $(NVML_HDR) $(GUEST_HDR) guest/nvml/impl/exports.map
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) -O1 $(SAN) $(NVML_CFLAGS) -o $@ $(NVML_LIB_SRC) -lpthread

.PHONY: nvml
nvml: $(B)/guest/libnvidia-ml.so.1 $(B)/asan/libnvidia-ml.so.1
