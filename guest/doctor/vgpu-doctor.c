/*
 * vgpu-doctor: checks a guest's vgpu setting (docs/guest.md, "Checking a guest"). First what no
 * library can check from inside: which libcuda.so.1 the dynamic loader resolves for a program
 * started like this one (LD_LIBRARY_PATH, ld.so.conf.d). When that is vgpu's, its report follows
 * (vgpu_doctor_report: the other library, symbols, configuration, host, token, round trip,
 * kernel). The library is opened with dlopen, not linked, so that a wrong one is reported
 * instead of stopping the program before main. Exit status: 0 when nothing failed, 1 otherwise,
 * 2 for a usage error.
 */
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: vgpu-doctor\n"
    "Checks that programs here reach the vgpu host: which libcuda.so.1 and libnvidia-ml.so.1 the\n"
    "loader resolves, that every function NVIDIA's driver exports is present, the configuration\n"
    "(VGPU_SERVER, VGPU_TOKEN or /etc/vgpu/guest.conf), the host, the token, a round trip and a\n"
    "kernel run. Each failed check says how to fix it. Exit status 0 when nothing failed, else 1.\n"
    "VGPU_DOCTOR=1 prints the same report from inside any CUDA program, at its cuInit.\n";

static const char loader_fix[] =
    "put vgpu's guest libraries first: LD_LIBRARY_PATH=DIR (vgpu-run does it), or guest/install.sh, which "
    "registers PREFIX/lib/vgpu ahead of every other directory (ld.so.conf.d/00-vgpu.conf) and runs ldconfig";

int main(int argc, char **argv) {
  if (argc > 1) {
    int help = !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help");
    fputs(usage, help ? stdout : stderr);
    return help ? 0 : 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    printf("%-4s  %-12s  the loader finds no libcuda.so.1 (%s)\n%-4s  %-12s  fix: %s\n", "fail", "libcuda", e ? e : "?", "", "",
           loader_fix);
    return 1;
  }
  struct link_map *lm = NULL;
  const char *path = dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name ? lm->l_name : "?";
  int (*report)(int) = NULL;
  *(void **)&report = dlsym(h, "vgpu_doctor_report");
  if (!report || !dlsym(h, "vgpu_guest_library")) {
    printf("%-4s  %-12s  the loader resolves libcuda.so.1 to %s, which is not vgpu's (NVIDIA's driver, or another "
           "library of that name, comes first)\n%-4s  %-12s  fix: %s\n",
           "fail", "libcuda", path, "", "", loader_fix);
    return 1;
  }
  fflush(stdout);
  return report(STDOUT_FILENO) ? 1 : 0;
}
