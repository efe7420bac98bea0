# PTX engine tests. The engine's sg_ptx_* symbols are hidden in libvgpu-softgpu.so, so these
# tests compile the engine (and the device memory it checks against) straight into their own
# sanitizer binary. Included from the top-level Makefile:  include softgpu/ptx/tests.mk
# The top-level SOFTGPU_TESTS glob excludes softgpu/tests/test-ptx*.c (they are built here). Test data
# (softgpu/tests/ptx: nvcc output, hand-written cases, fatbins) is read at run time from PTX_TEST_DIR.

PTX_TEST_SRC := $(sort $(wildcard softgpu/tests/test-ptx*.c))
PTX_ENGINE_SRC := $(sort $(wildcard softgpu/ptx/*.c)) softgpu/api/sg_mem.c

$(B)/tests/ptx-tests: $(PTX_TEST_SRC) $(PTX_ENGINE_SRC) $(wildcard softgpu/ptx/*.h softgpu/api/sg_mem.h) $(SHARED_C_HDR) \
    softgpu/tests/ptx/ptx_test_util.h softgpu/tests/runner.c softgpu/tests/task.h | $(B)/.deps-deb
	@mkdir -p $(@D)
	$(CC) -std=c11 -g -O1 -D_GNU_SOURCE $(CWARN) $(SAN) -I$(CUDA_HOME)/include -Isoftgpu/tests -Isoftgpu/ptx $(SHARED_C_INC) \
	  -DPTX_TEST_DIR='"$(abspath softgpu/tests/ptx)"' \
	  -o $@ softgpu/tests/runner.c $(PTX_TEST_SRC) $(PTX_ENGINE_SRC) -lpthread -lm -lzstd -llz4

.PHONY: test-ptx
test-ptx: $(B)/tests/ptx-tests
	ASAN_OPTIONS=detect_leaks=0 $(B)/tests/ptx-tests

# Engine speed against a naive C loop (optimised build, no sanitizers).
.PHONY: bench-ptx
$(B)/tests/ptx-bench: softgpu/tests/ptx/bench_sgemm.c $(PTX_ENGINE_SRC) $(wildcard softgpu/ptx/*.h) $(SHARED_C_HDR) | $(B)/.deps-deb
	@mkdir -p $(@D)
	$(CC) -std=c11 -O2 -D_GNU_SOURCE $(CWARN) -Isoftgpu/ptx $(SHARED_C_INC) -o $@ softgpu/tests/ptx/bench_sgemm.c $(PTX_ENGINE_SRC) \
	  -lpthread -lm -lzstd -llz4
bench-ptx: $(B)/tests/ptx-bench
	$(B)/tests/ptx-bench softgpu/tests/ptx/sgemm.ptx
