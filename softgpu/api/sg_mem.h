/*
 * softgpu device memory: one arena, reserved once (mmap, MAP_NORESERVE) and committed by touch.
 * A device pointer is the host address of the byte inside the arena, so translation is free;
 * what protects the process is the check: every access by the driver API or the PTX engine goes
 * through sg_mem_check(), which accepts only ranges inside one live allocation (granule bitmap,
 * 256-byte granules) and never lets a kernel touch memory outside the arena. The arena is the
 * device memory followed by address space for virtual memory reservations (sg_mem.c).
 */
#ifndef SG_MEM_H
#define SG_MEM_H

#include <stddef.h>
#include <stdint.h>

typedef uint64_t sg_devptr;

#define SG_MEM_GRANULE 256u

/* Reserves the arena (size from VGPU_SOFTGPU_MEMORY, default 8 GiB). Idempotent; 0 on success. */
int sg_mem_init(void);
uint64_t sg_mem_total(void);
uint64_t sg_mem_used(void);

/* Allocation: 256-byte aligned, zero-filled. 0 on success, -1 when out of memory. */
int sg_mem_alloc(uint64_t size, sg_devptr *out);
/* p must be the start of a live allocation. 0 on success, -1 otherwise. */
int sg_mem_free(sg_devptr p);
/* Base and size of the live allocation containing p; -1 if none. */
int sg_mem_range(sg_devptr p, sg_devptr *base, uint64_t *size);
/* sg_mem_range, marking the allocation shared with other processes (CUDA IPC, ipc.c): its free
 * then retires its range for the rest of the process instead of scrubbing it and allocating it
 * again, because another process may still map its pages. */
int sg_mem_share(sg_devptr p, sg_devptr *base, uint64_t *size);

/* Host pointer for [p, p+n) when the whole range lies in live allocations, else NULL.
 * n == 0 is checked as n == 1. Thread-safe and lock-free on the fast path. */
void *sg_mem_check(sg_devptr p, uint64_t n);

/* Arena bounds (memory and reservation space), for engines that check the arena first and the
 * granule map second. */
uint8_t *sg_mem_arena_base(void);
uint64_t sg_mem_arena_size(void);
/* 1 when the granule holding arena offset `off` is live. */
int sg_mem_granule_live(uint64_t off);

/* Virtual memory management (sg_mem.c explains the layout). Sizes and addresses given here are
 * already checked against the granularity by the caller (vmm.c). All return 0 on success. */
/* Reserves size bytes of address space aligned to align (at least a page), at hint if that is free. */
int sg_mem_reserve(uint64_t size, uint64_t align, sg_devptr hint, sg_devptr *out);
/* Base and size of the reservation holding p; -1 if none. */
int sg_mem_reservation(sg_devptr p, sg_devptr *base, uint64_t *size);
/* p and size must be exactly a reservation's. */
int sg_mem_unreserve(sg_devptr p, uint64_t size);
/* Physical memory: *off is its offset in the physical space; zero-filled. */
int sg_mem_phys_alloc(uint64_t size, uint64_t *off);
void sg_mem_phys_free(uint64_t off, uint64_t size);
/* Places physical [phys_off, phys_off+size) at reserved address p; not accessible until made live. */
int sg_mem_map(sg_devptr p, uint64_t size, uint64_t phys_off);
/* Takes the mapping away: the range reads as unmapped (not live, zero) again. */
void sg_mem_unmap(sg_devptr p, uint64_t size);
/* Maps [off, off+size) of file fd at reserved address p (page-aligned), as sg_mem_map does for
 * physical memory; not accessible until made live. */
int sg_mem_map_fd(sg_devptr p, uint64_t size, int fd, uint64_t off);
/* The file of physical memory (sg_mem_phys_alloc's offsets), -1 before the first allocation. */
int sg_mem_phys_fd(void);
/* The memory file behind the allocations' part of the arena: allocation p lives at file offset
 * p - sg_mem_arena_base() (what CUDA IPC shares with another process, ipc.c). -1 before init. */
int sg_mem_fd(void);
/* Makes a mapped range accessible (live) or not. */
void sg_mem_set_live(sg_devptr p, uint64_t size, int live);

#endif
