/* nvmlSystem*: versions and process names. */
#include "vgnvml.h"

#include <cuda.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The first NVIDIA driver of each CUDA driver API version, newest first; the same table as
 * compatibleDriverString in src/mediator/identity.ts. Used only when the host sent no driver
 * string (a minor-0 host): the answer is then the compatible branch, not a real driver. */
static const struct {
  int cuda;
  const char *driver;
} k_first_driver[] = {
    {13000, "580.65.06"}, {12090, "575.51.03"}, {12080, "570.86.10"}, {12060, "560.28.03"},
    {12040, "550.54.14"}, {12020, "535.54.03"}, {12000, "525.60.13"},
};

const char *vg_nvml_driver_string(void) {
  const vg_welcome *w = vg_nvml_welcome();
  if (w && w->driver_string && w->driver_string[0]) return w->driver_string;
  /* Before nvmlInit (nvmlSystemGetNVMLVersion may be asked first): the CUDA this library is
   * built for. */
  int v = w ? (int)w->driver_version : CUDA_VERSION;
  size_t n = sizeof k_first_driver / sizeof k_first_driver[0];
  for (size_t i = 0; i < n; i++)
    if (v >= k_first_driver[i].cuda) return k_first_driver[i].driver;
  return k_first_driver[n - 1].driver;
}

static nvmlReturn_t driver_version_impl(char *out, unsigned len) {
  nvmlReturn_t r = vg_nvml_ready();
  return r ? r : vg_nvml_copy_str(out, len, vg_nvml_driver_string());
}

VG_EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
  VG_NVML_TRACED(driver_version_impl(version, length));
}

/* NVIDIA formats it "<CUDA major>.<driver version>". */
static nvmlReturn_t nvml_version_impl(char *out, unsigned len) {
  char buf[NVML_SYSTEM_NVML_VERSION_BUFFER_SIZE];
  const vg_welcome *w = vg_nvml_welcome();
  unsigned major = (w ? w->driver_version : (unsigned)CUDA_VERSION) / 1000u;
  snprintf(buf, sizeof buf, "%u.%s", major, vg_nvml_driver_string());
  return vg_nvml_copy_str(out, len, buf);
}

/* Answered before nvmlInit too, as NVIDIA's is: it describes the library, not a device. */
VG_EXPORT nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length) {
  VG_NVML_TRACED(nvml_version_impl(version, length));
}

static nvmlReturn_t cuda_version_impl(int *v) {
  nvmlReturn_t r = vg_nvml_ready();
  if (r) return r;
  if (!v) return NVML_ERROR_INVALID_ARGUMENT;
  *v = (int)vg_nvml_welcome()->driver_version;
  return NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *v) { VG_NVML_TRACED(cuda_version_impl(v)); }
VG_EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *v) { VG_NVML_TRACED(cuda_version_impl(v)); }

/* The process's executable path as /proc shows its command line (argv[0]), else its comm. */
static nvmlReturn_t process_name_impl(unsigned pid, char *name, unsigned len) {
  nvmlReturn_t r = vg_nvml_ready();
  if (r) return r;
  if (!name || len == 0) return NVML_ERROR_INVALID_ARGUMENT;
  char path[64], buf[4096];
  ssize_t n = -1;
  snprintf(path, sizeof path, "/proc/%u/cmdline", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
  }
  if (n <= 0 || buf[0] == 0) {
    snprintf(path, sizeof path, "/proc/%u/comm", pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) return NVML_ERROR_NOT_FOUND;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return NVML_ERROR_NOT_FOUND;
    if (buf[n - 1] == '\n') n--;
  }
  buf[n] = 0; /* cmdline: the first NUL ends argv[0] */
  size_t l = strlen(buf);
  if (l >= len) l = len - 1; /* NVIDIA truncates rather than failing */
  memcpy(name, buf, l);
  name[l] = 0;
  return NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlSystemGetProcessName(unsigned int pid, char *name, unsigned int length) {
  VG_NVML_TRACED(process_name_impl(pid, name, length));
}

static nvmlReturn_t zero_count(unsigned *count) {
  nvmlReturn_t r = vg_nvml_ready();
  if (r) return r;
  if (!count) return NVML_ERROR_INVALID_ARGUMENT;
  *count = 0;
  return NVML_SUCCESS;
}

/* No S-class units and no devices excluded from use in a guest: both lists are really empty. */
VG_EXPORT nvmlReturn_t nvmlUnitGetCount(unsigned int *count) { VG_NVML_TRACED(zero_count(count)); }
VG_EXPORT nvmlReturn_t nvmlGetExcludedDeviceCount(unsigned int *count) { VG_NVML_TRACED(zero_count(count)); }
/* The older name of nvmlGetExcludedDeviceCount, still exported by NVIDIA's library. */
VG_EXPORT nvmlReturn_t nvmlGetBlacklistDeviceCount(unsigned int *count) { VG_NVML_TRACED(zero_count(count)); }
