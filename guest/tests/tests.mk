# Guest runtime tests (libcuda.so.1 internals and its behaviour against a fake host).
# Included by the top-level Makefile; `make guest-tests` builds and runs them under ASan/UBSan.
# They link the guest sources directly (not the .so) so that internals such as the codec and the
# handle table can be tested too; guest/cuda/gen/ must have been generated.

GUEST_TEST_SRC := $(sort $(wildcard guest/tests/test-*.c)) guest/tests/runner.c guest/tests/json.c \
  guest/tests/fakehost.c
GUEST_TEST_LIB_SRC := $(sort $(wildcard guest/common/impl/*.c guest/cuda/impl/*.c guest/cuda/gen/*.c)) $(SHARED_C_SRC)
GUEST_TEST_HDR := $(wildcard guest/tests/*.h guest/cuda/impl/*.h) $(GUEST_HDR)

# test-curesult.c loads softgpu's sanitizer build to compare its error strings with the guest's.
$(B)/tests/guest-tests: $(GUEST_TEST_SRC) $(GUEST_TEST_LIB_SRC) $(GUEST_TEST_HDR) $(B)/asan/libnvidia-ml.so.1 \
    $(B)/asan/libvgpu-softgpu.so
	@mkdir -p $(@D)
	$(CC) -std=c11 -g -O1 -D_GNU_SOURCE $(CWARN) $(SAN) -I$(CUDA_HOME)/include $(GUEST_INC) -Iguest/cuda/impl \
	  -Iguest/tests -DVG_TEST_SOFTGPU='"$(abspath $(B)/asan/libvgpu-softgpu.so)"' \
	  -o $@ $(GUEST_TEST_SRC) $(GUEST_TEST_LIB_SRC) -lpthread -ldl

.PHONY: guest-tests
guest-tests: $(B)/tests/guest-tests
	ASAN_OPTIONS=detect_leaks=0 $(B)/tests/guest-tests
