/*
 * Ollama's native GPU probe, call for call (discovery-ollama-llamacpp-torch-nvml.md §1.4):
 * dlopen libcuda.so.1 with RTLD_NOW|RTLD_LOCAL, the required symbols, cuInit, cuDriverGetVersion,
 * the NVML driver-version probe, cuDeviceGetCount, then per device attributes 75/76/18, name,
 * total memory and PCI bus id. Prints one JSON object; exit 0 when a usable device was found.
 */
#include <ctype.h>
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef int (*fn_i)(unsigned);
typedef int (*fn_pi)(int *);
typedef int (*fn_get)(int *, int);
typedef int (*fn_attr)(int *, int, int);
typedef int (*fn_name)(char *, int, int);
typedef int (*fn_mem)(size_t *, int);
typedef int (*fn_v)(void);
typedef int (*fn_drv)(char *, unsigned);

int main(void)
{
  void *cu = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!cu) { printf("{\"error\":\"dlopen libcuda.so.1\"}\n"); return 1; }
  fn_i cuInit = (fn_i)dlsym(cu, "cuInit");
  fn_pi cuDriverGetVersion = (fn_pi)dlsym(cu, "cuDriverGetVersion");
  fn_pi cuDeviceGetCount = (fn_pi)dlsym(cu, "cuDeviceGetCount");
  fn_get cuDeviceGet = (fn_get)dlsym(cu, "cuDeviceGet");
  fn_attr cuDeviceGetAttribute = (fn_attr)dlsym(cu, "cuDeviceGetAttribute");
  fn_name cuDeviceGetName = (fn_name)dlsym(cu, "cuDeviceGetName");
  fn_mem cuDeviceTotalMem = (fn_mem)dlsym(cu, "cuDeviceTotalMem_v2");
  fn_name cuDeviceGetPCIBusId = (fn_name)dlsym(cu, "cuDeviceGetPCIBusId");
  if (!cuInit || !cuDriverGetVersion || !cuDeviceGetCount || !cuDeviceGet || !cuDeviceGetAttribute || !cuDeviceGetName ||
      !cuDeviceTotalMem) {
    printf("{\"error\":\"missing required symbol\"}\n");
    return 1;
  }
  int r = cuInit(0);
  if (r) { printf("{\"error\":\"cuInit %d\"}\n", r); return 1; }
  int ver = 0;
  cuDriverGetVersion(&ver);
  char nvdrv[80] = "";
  void *nv = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (nv) {
    fn_v init = (fn_v)dlsym(nv, "nvmlInit_v2"), shut = (fn_v)dlsym(nv, "nvmlShutdown");
    fn_drv drv = (fn_drv)dlsym(nv, "nvmlSystemGetDriverVersion");
    if (init && drv && shut && init() == 0) {
      drv(nvdrv, sizeof nvdrv);
      shut();
    }
  }
  int n = 0;
  if ((r = cuDeviceGetCount(&n))) { printf("{\"error\":\"cuDeviceGetCount %d\"}\n", r); return 1; }
  printf("{\"driver\":%d,\"nvidia_driver\":\"%s\",\"devices\":[", ver, nvdrv);
  for (int i = 0; i < n; i++) {
    int d, major = -1, minor = -1, integrated = -1;
    char name[128] = "", bus[32] = "";
    size_t mem = 0;
    cuDeviceGet(&d, i);
    cuDeviceGetAttribute(&major, 75, d);
    cuDeviceGetAttribute(&minor, 76, d);
    cuDeviceGetAttribute(&integrated, 18, d);
    cuDeviceGetName(name, sizeof name, d);
    cuDeviceTotalMem(&mem, d);
    if (cuDeviceGetPCIBusId) cuDeviceGetPCIBusId(bus, sizeof bus, d);
    for (char *p = bus; *p; p++) *p = (char)tolower((unsigned char)*p);
    printf("%s{\"name\":\"%s\",\"compute\":\"%d.%d\",\"integrated\":%d,\"total\":%zu,\"pci_id\":\"%s\"}", i ? "," : "", name,
           major, minor, integrated, mem, bus);
  }
  printf("]}\n");
  return n > 0 ? 0 : 3;
}
