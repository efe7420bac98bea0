/*
 * Event sets. nvidia-smi creates one at start and quits with "Internal NVML error" if it cannot.
 * The host forwards no device events (XID errors, clock changes), so no event type can be
 * registered: a set is real but never receives anything, and a wait ends in NVML_ERROR_TIMEOUT
 * after the caller's timeout, as NVIDIA's does when nothing happens.
 */
#include "vgnvml.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#define EVENT_SET_MAGIC 0x76674553u /* "vgES" */

struct vg_event_set {
  unsigned magic;
};
typedef struct vg_event_set *nvmlEventSet_t;

static nvmlReturn_t create_impl(nvmlEventSet_t *set) {
  nvmlReturn_t r = vg_nvml_ready();
  if (r) return r;
  if (!set) return NVML_ERROR_INVALID_ARGUMENT;
  struct vg_event_set *s = malloc(sizeof *s);
  if (!s) return NVML_ERROR_MEMORY;
  s->magic = EVENT_SET_MAGIC;
  *set = s;
  return NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set) { VG_NVML_TRACED(create_impl(set)); }

static nvmlReturn_t free_impl(nvmlEventSet_t set) {
  nvmlReturn_t r = vg_nvml_ready();
  if (r) return r;
  if (!set || set->magic != EVENT_SET_MAGIC) return NVML_ERROR_INVALID_ARGUMENT;
  set->magic = 0;
  free(set);
  return NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set) { VG_NVML_TRACED(free_impl(set)); }

static nvmlReturn_t supported_impl(nvmlDevice_t dev, unsigned long long *types) {
  nvmlReturn_t r = vg_nvml_dev(dev, NULL, NULL);
  if (r) return r;
  if (!types) return NVML_ERROR_INVALID_ARGUMENT;
  *types = 0;
  return NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device, unsigned long long *eventTypes) {
  VG_NVML_TRACED(supported_impl(device, eventTypes));
}

static nvmlReturn_t register_impl(nvmlDevice_t dev, unsigned long long types, nvmlEventSet_t set) {
  nvmlReturn_t r = vg_nvml_dev(dev, NULL, NULL);
  if (r) return r;
  if (!set || set->magic != EVENT_SET_MAGIC) return NVML_ERROR_INVALID_ARGUMENT;
  return types ? NVML_ERROR_NOT_SUPPORTED : NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long eventTypes, nvmlEventSet_t set) {
  VG_NVML_TRACED(register_impl(device, eventTypes, set));
}

static nvmlReturn_t wait_impl(nvmlEventSet_t set, void *data, unsigned timeout_ms) {
  nvmlReturn_t r = vg_nvml_ready();
  if (r) return r;
  if (!set || set->magic != EVENT_SET_MAGIC || !data) return NVML_ERROR_INVALID_ARGUMENT;
  struct timespec ts = {.tv_sec = timeout_ms / 1000u, .tv_nsec = (long)(timeout_ms % 1000u) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
  return NVML_ERROR_TIMEOUT;
}

VG_EXPORT nvmlReturn_t nvmlEventSetWait(nvmlEventSet_t set, void *data, unsigned int timeoutms) {
  VG_NVML_TRACED(wait_impl(set, data, timeoutms));
}
VG_EXPORT nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, void *data, unsigned int timeoutms) {
  VG_NVML_TRACED(wait_impl(set, data, timeoutms));
}
