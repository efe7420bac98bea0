// The virtual memory objects of one session (cuMemAddressReserve, cuMemCreate, cuMemMap), kept so
// that every call naming one can be checked before the driver sees it: a session frees only its
// own reservations, maps only its own physical allocations into them, and its mappings are the
// only VMM ranges its copies and kernels may touch (they enter the AllocMap as 'mapped' ranges).
// Physical allocations are session ids here, never the driver's values, and their bytes count
// toward the quota from cuMemCreate until the driver frees them: when every reference (the create
// and each cuMemRetainAllocationHandle) is released and nothing maps them any more (cuda.h).

export interface Physical {
  /** The driver's CUmemGenericAllocationHandle. */
  real: number;
  /** Bytes it counts toward the quota: 0 for one imported from another session of the VM
   * (cuMemImportFromShareableHandle), which its exporter counts. */
  size: number;
  /** Unreleased references: the create, plus one per retain. */
  refs: number;
  /** Live mappings of it. */
  maps: number;
  /** Exported (cuMemExportToShareableHandle): the driver's descriptor bytes the mediator knows it
   * by, revoked when the driver frees it (docs/ipc.md). */
  exportedAs?: string;
  /** Imported from another session: the token it was looked up by, whose close the mediator is
   * told of when the driver frees it here. */
  importedBy?: string;
}

export interface Mapping {
  base: number;
  size: number;
  /** The session id of the physical allocation it maps. */
  id: number;
}

/** Session ids of physical allocations: apart from the handle table's, never 0. */
const FIRST_PHYSICAL_ID = 0x7000_0000;

export class VmmBook {
  /** Reservation base -> size. */
  readonly reservations = new Map<number, number>();
  private readonly physical = new Map<number, Physical>();
  private readonly idOfReal = new Map<number, number>();
  /** Mappings by base address (few per session: a linear search is enough). */
  readonly mappings = new Map<number, Mapping>();
  private nextId = FIRST_PHYSICAL_ID;

  /** Whether [p, p+n) lies inside one of the session's reservations (n = 0 as 1). */
  inReservation(p: number, n: number): boolean {
    const len = Math.max(1, n);
    for (const [base, size] of this.reservations) if (p >= base && p + len <= base + size) return true;
    return false;
  }

  addPhysical(real: number, size: number): number {
    const id = this.nextId++;
    this.physical.set(id, { real, size, refs: 1, maps: 0 });
    this.idOfReal.set(real, id);
    return id;
  }

  /** A physical allocation the guest still holds a reference to. */
  held(id: number): Physical | undefined {
    const p = this.physical.get(id);
    return p && p.refs > 0 ? p : undefined;
  }

  byReal(real: number): number | undefined {
    return this.idOfReal.get(real);
  }

  get(id: number): Physical | undefined {
    return this.physical.get(id);
  }

  /** Forgets a physical allocation the driver has freed; returns it, or undefined if it lives on. */
  dropIfUnused(id: number): Physical | undefined {
    const p = this.physical.get(id);
    if (!p || p.refs > 0 || p.maps > 0) return undefined;
    this.physical.delete(id);
    this.idOfReal.delete(p.real);
    return p;
  }

  /** Whether an allocation imported by `token` lives on in the session. */
  hasImport(token: string): boolean {
    for (const p of this.physical.values()) if (p.importedBy === token) return true;
    return false;
  }

  /** The mapping holding p, if any. */
  mappingAt(p: number): Mapping | undefined {
    for (const m of this.mappings.values()) if (p >= m.base && p < m.base + m.size) return m;
    return undefined;
  }

  /** Mappings inside [p, p+n). */
  mappingsIn(p: number, n: number): Mapping[] {
    return [...this.mappings.values()].filter((m) => m.base >= p && m.base < p + n);
  }
}
