/*
 * Internals shared by the PTX engine's files. Never included outside softgpu/ptx.
 *
 * Pipeline: ptx_lex (tokens) -> ptx_parse (directives, declarations, scopes) which calls
 * ptx_decode for every instruction, producing one flat array of sg_insn per module. At run time
 * ptx_exec interprets that array one thread at a time; ptx_sched interleaves the threads of a block
 * at barriers and warp collectives; ptx_pool spreads blocks over worker threads.
 *
 * Registers: every function frame is an array of 64-bit slots laid out as
 *   [0] = 0, [1] = 1, [2 .. nconst) immediates, [nconst .. nslots) declared registers.
 * Immediates live in the frame so that every operand is a slot index and the interpreter never
 * asks "register or constant?". Values narrower than 64 bits sit in the low bits; every reader
 * truncates to the width its instruction names.
 */
#ifndef SG_PTX_INTERNAL_H
#define SG_PTX_INTERNAL_H

#include <stdint.h>
#include <stddef.h>

#include "ptx.h"

/* ---- types ---------------------------------------------------------------------------------- */
enum {
  T_NONE = 0,
  T_B8, T_B16, T_B32, T_B64, T_B128,
  T_U8, T_U16, T_U32, T_U64,
  T_S8, T_S16, T_S32, T_S64,
  T_F16, T_F16X2, T_BF16, T_BF16X2, T_F32, T_F64,
  T_PRED,
  T__COUNT
};
int sg_type_from_name(const char *s, size_t n); /* ".u32" without the dot; T_NONE if not a type */
unsigned sg_type_size(int t);
int sg_type_is_signed(int t);
int sg_type_is_float(int t);

/* State spaces. */
enum { SP_GENERIC = 0, SP_GLOBAL, SP_SHARED, SP_LOCAL, SP_CONST, SP_PARAM, SP_KPARAM };

/* Generic-address windows for shared and local memory. Global addresses are arena host
 * addresses; the windows sit far below any mmap'ed arena (checked at launch). */
#define SG_WIN_SHARED 0x0000100000000000ull
#define SG_WIN_LOCAL 0x0000200000000000ull
#define SG_WIN_SIZE 0x0000000100000000ull
/* Function "addresses" (function pointers, vtables): base + 16 * function index. */
#define SG_FUNC_BASE 0x0000300000000000ull

/* ---- decoded instructions ------------------------------------------------------------------- */
#define SG_NO_SLOT 0xffffffffu

typedef struct sg_insn {
  uint16_t op;    /* SG_OP_* */
  uint8_t t;      /* main type */
  uint8_t t2;     /* second type: cvt source, set/slct operand type */
  uint8_t mod;    /* per-op: compare op, rounding, shuffle/vote/atom mode */
  uint8_t flags;  /* SG_F_* */
  uint8_t space;  /* SP_* for memory ops */
  uint8_t vec;    /* 1, 2 or 4 */
  uint32_t g;     /* guard predicate slot (1 = constant true) */
  uint8_t gx;     /* 1 for @p, 0 for @!p */
  uint8_t dsz;    /* bytes of the destination register (0: none); sign-extending writes stop there */
  uint16_t pad_;
  uint32_t d, a, b, c, e; /* slots; e is a 4th source (shfl membermask, prmt mode...) */
  uint32_t d2;    /* second destination (setp p|q, shfl d|p) or SG_NO_SLOT */
  uint32_t v[4];  /* vector operand slots */
  int64_t imm;    /* address offset, call-table index, ... */
  uint32_t aux;   /* branch target pc, callee function index, ... */
  uint32_t line;  /* source line, for error messages */
} sg_insn;

enum {
  SG_F_SAT = 1, SG_F_FTZ = 2, SG_F_APPROX = 4, SG_F_HI = 8, SG_F_WIDE = 16, SG_F_CC = 32,
  SG_F_AHI = 64 /* address base is a symbol resolved at run time (local depot) */
};

/* Rounding modifiers. */
enum { RND_NONE = 0, RND_RN, RND_RZ, RND_RM, RND_RP, RND_RNI, RND_RZI, RND_RMI, RND_RPI, RND_RNA };

/* Compare ops (setp/set/slct). The unordered forms are true when either operand is NaN. */
enum {
  CMP_EQ = 1, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE, CMP_LO, CMP_LS, CMP_HI, CMP_HS,
  CMP_EQU, CMP_NEU, CMP_LTU, CMP_LEU, CMP_GTU, CMP_GEU, CMP_NUM, CMP_NAN
};

/* Boolean combiners for setp.op.bop. */
enum { BOP_NONE = 0, BOP_AND, BOP_OR, BOP_XOR };

/* Atomic ops. */
enum { AT_ADD = 1, AT_MIN, AT_MAX, AT_INC, AT_DEC, AT_AND, AT_OR, AT_XOR, AT_EXCH, AT_CAS };

/* bar.red reductions (mod of SG_OP_BAR; 0 is a plain bar.sync). */
enum { BR_POPC = 1, BR_AND, BR_OR };

/* Shuffle / vote modes. */
enum { SH_UP = 1, SH_DOWN, SH_BFLY, SH_IDX };
enum { VO_ALL = 1, VO_ANY, VO_UNI, VO_BALLOT };

#define SG_OPS(X)                                                                              \
  X(NOP) X(UNSUPPORTED) X(MOV) X(MOV_DEPOT) X(SREG) X(UNPACK) X(PACK)                         \
  X(ADD_I32) X(ADD_I64) X(ADD_F32) X(ADD_F64) X(SUB_I32) X(SUB_I64) X(SUB_F32) X(SUB_F64)       \
  X(MUL_F32) X(MUL_F64) X(FMA_F32) X(FMA_F64) X(MULLO_I32) X(MULLO_I64) X(MULWIDE_S32)         \
  X(MULWIDE_U32) X(MADLO_I32) X(MADLO_I64) X(SHL_B32) X(SHL_B64)                              \
  X(ADD) X(SUB) X(MUL) X(MAD) X(FMA) X(DIV) X(REM) X(MIN) X(MAX) X(ABS) X(NEG)                 \
  X(AND) X(OR) X(XOR) X(NOT) X(CNOT) X(SHL) X(SHR) X(SAD) X(MAD24) X(MUL24)       \
  X(ADDC) X(SUBC)                                                                             \
  X(SETP) X(SETP_I32) X(SET) X(SELP) X(SLCT) X(CVT) X(CVTA)                                   \
  X(RCP) X(SQRT) X(RSQRT) X(EX2) X(LG2) X(SIN) X(COS) X(TANH) X(COPYSIGN) X(TESTP)            \
  X(BREV) X(POPC) X(CLZ) X(BFE) X(BFI) X(PRMT) X(BFIND) X(FNS) X(SHF_L) X(SHF_R)              \
  X(DP4A) X(DP2A) X(BMSK) X(SZEXT)                                                                             \
  X(LD) X(ST) X(LD_GLOBAL_32) X(ST_GLOBAL_32) X(LD_SHARED_32) X(ST_SHARED_32) X(LD_KPARAM)      \
  X(ATOM) X(RED)                                                                              \
  X(BRA) X(CALL) X(CALL_IND) X(RET) X(EXIT) X(TRAP) X(BAR) X(BAR_ARRIVE) X(MEMBAR)             \
  X(SHFL) X(VOTE) X(MATCH) X(ACTIVEMASK) X(WARPSYNC) X(REDUX) X(ISSPACEP) X(NANOSLEEP) X(PREFETCH) X(BUILTIN) \
  X(CP_ASYNC) X(TENSOR) X(CVT_TF32) X(TEX)

enum {
#define X(n) SG_OP_##n,
  SG_OPS(X)
#undef X
  SG_OP__COUNT
};
extern const char *const sg_op_names[SG_OP__COUNT];

/* Special registers read by SG_OP_SREG (aux). */
enum {
  SR_TID_X, SR_TID_Y, SR_TID_Z, SR_NTID_X, SR_NTID_Y, SR_NTID_Z, SR_CTAID_X, SR_CTAID_Y, SR_CTAID_Z,
  SR_NCTAID_X, SR_NCTAID_Y, SR_NCTAID_Z, SR_LANEID, SR_WARPID, SR_NWARPID, SR_SMID, SR_NSMID,
  SR_GRIDID, SR_CLOCK, SR_CLOCK64, SR_GLOBALTIMER, SR_LANEMASK_EQ, SR_LANEMASK_LT, SR_LANEMASK_LE,
  SR_LANEMASK_GT, SR_LANEMASK_GE, SR_DYNSMEM, SR_TOTALSMEM, SR_WARPSZ, SR_ZERO, SR_ENVREG1, SR_ENVREG2
};

/* Warp-wide matrix instructions (SG_OP_TENSOR; in->aux indexes the module's tc table). Their
 * operands are vectors of up to 8 registers, so they live here rather than in sg_insn. */
enum { TC_MMA = 1, TC_LDMATRIX, TC_MOVMATRIX, TC_WMMA_LOAD, TC_WMMA_STORE, TC_WMMA_MMA };
#define T_TF32 T__COUNT /* tf32 operands of mma (an f32 register read to 10 mantissa bits); only in sg_tc */
typedef struct sg_tc {
  uint8_t kind;           /* TC_* */
  uint8_t m, n, k;        /* shape */
  uint8_t td, ta, tb, tc; /* element types of D, A, B, C (T_*); wmma load/store: ta */
  uint8_t which;          /* wmma load/store: 0 = a, 1 = b, 2 = c/d */
  uint8_t col;            /* wmma load/store: column-major in memory */
  uint8_t trans;          /* ldmatrix: .trans */
  uint8_t nmat;           /* ldmatrix: .x1/.x2/.x4 */
  uint8_t satfinite;
  uint8_t nd, na, nb, nc; /* registers in each operand vector */
  uint32_t d[8], a[8], b[8], c[8];
} sg_tc;

/* Texture and surface instructions (SG_OP_TEX; in->aux indexes the module's tx table): tex
 * (with .level and .grad), tld4, suld.b, sust.b, txq and suq. ptx_texture.c runs them. */
enum { TX_TEX = 1, TX_TLD4, TX_SULD, TX_SUST, TX_TXQ, TX_SUQ };
enum { TG_1D = 1, TG_2D, TG_3D, TG_A1D, TG_A2D };
enum { TQ_WIDTH = 1, TQ_HEIGHT, TQ_DEPTH, TQ_ARRAY_SIZE, TQ_NUM_MIPMAP_LEVELS, TQ_NUM_SAMPLES, TQ_NORMALIZED_COORDS };
enum { SC_TRAP = 0, SC_CLAMP, SC_ZERO };
enum { TM_BASE = 0, TM_LEVEL, TM_GRAD }; /* how tex picks its mipmap level */
typedef struct sg_tx {
  uint8_t kind;   /* TX_* */
  uint8_t geom;   /* TG_* */
  uint8_t comp;   /* tld4: 0..3 for r, g, b, a */
  uint8_t ct;     /* coordinate type: T_F32 or T_S32 */
  uint8_t clamp;  /* surfaces: SC_* */
  uint8_t query;  /* txq/suq: TQ_* */
  uint8_t bsize;  /* surfaces: bytes per vector element (b8..b64) */
  uint8_t nd;     /* registers in the data vector (destination, or sust's source) */
  uint8_t nc;     /* coordinate registers */
  uint8_t mipmode; /* TM_* */
  uint8_t ng;     /* registers in each gradient vector */
  uint32_t handle; /* slot of the 64-bit texture or surface handle */
  uint32_t d[4], crd[4];
  uint32_t lod;   /* tex.level: slot of the level of detail */
  uint32_t gx[4], gy[4]; /* tex.grad: dP/dx and dP/dy */
  uint32_t pred;  /* tex {d}|p: set when the texels were resident (always: no sparse textures) */
} sg_tx;

/* ---- module --------------------------------------------------------------------------------- */
typedef struct sg_param {
  char *name;
  uint32_t offset, size, align;
} sg_param;

typedef struct sg_func {
  char *name;
  int is_entry;
  int defined;        /* has a body */
  uint32_t pc;        /* first instruction */
  uint32_t nslots;    /* frame size in 64-bit slots */
  uint32_t nconst;
  uint64_t *consts;   /* nconst slots: the frame's initial prefix */
  uint32_t nregs_declared;
  uint32_t regs_live;    /* most 32-bit registers live at once (ptx_regs.c) */
  uint32_t maxnreg;      /* .maxnreg (0: none) */
  uint32_t minnctapersm; /* .minnctapersm (0: none) */
  sg_param *params;   /* entry: kernel parameters; func: input params (frame offsets) */
  int nparams;
  sg_param *rets;     /* func return params (frame offsets) */
  int nrets;
  uint32_t param_bytes; /* entry: packed parameter buffer size */
  uint32_t frame_bytes; /* per-call local memory: params, in-body .param, .local */
  uint32_t shared_bytes; /* entry: static shared memory it and its callees reference */
  uint32_t maxntid[3], reqntid[3];
  /* What the body references directly, for per-kernel shared-memory accounting. */
  uint32_t *shared_refs, nshared_refs, capshared_refs; /* variable indices */
  uint32_t *callees, ncallees, capcallees;             /* function indices; UINT32_MAX: indirect */
} sg_func;

/* Arguments of one call site: caller frame offsets of the actual parameters and return slots. */
typedef struct sg_callsite {
  uint32_t callee;
  uint32_t nargs, nrets;
  uint32_t *arg_off; /* caller frame offsets */
  uint32_t *ret_off;
} sg_callsite;

typedef struct sg_gvar {
  char *name;
  int space;          /* SP_GLOBAL, SP_CONST, SP_SHARED */
  uint64_t size;
  uint32_t align;
  sg_devptr addr;     /* global/const: device address; shared: offset in the block's window */
  int is_extern;      /* .extern .shared (dynamic shared memory) */
  int managed;        /* .attribute(.managed): whole pages of its own, from addr */
} sg_gvar;

struct sg_ptx_kernel {
  sg_ptx_module *mod;
  sg_func *fn;
};

struct sg_ptx_module {
  int ptx_version, sm;
  sg_insn *code;
  uint32_t ncode, capcode;
  sg_func **funcs;
  int nfuncs, capfuncs;
  sg_gvar *vars;
  int nvars, capvars;
  sg_callsite *calls;
  uint32_t ncalls, capcalls;
  sg_ptx_kernel *kernels;
  int nkernels;
  uint32_t module_shared_bytes; /* all static .shared, module and function scope */
  uint32_t dyn_shared_align;
  uint32_t dyn_base;            /* offset of dynamic shared memory in the block's window */
  /* References to dynamic shared memory, patched with dyn_base once the layout is final. */
  struct sg_patch { uint32_t idx, fn; int is_const; } *patches;
  uint32_t npatch, cappatch;
  char **names; /* texts of unsupported instructions, for launch errors */
  uint32_t nnames, capnames;
  sg_tc *tc;    /* operands of warp matrix instructions */
  uint32_t ntc, captc;
  sg_tx *tx;    /* operands of texture and surface instructions */
  uint32_t ntx, captx;
};
int sg_module_add_name(sg_ptx_module *m, const char *s, size_t n);
/* Records v in the set arr[0..*n) (growing it); -1 when out of memory. */
int sg_u32_set_add(uint32_t **arr, uint32_t *n, uint32_t *cap, uint32_t v);

/* ---- front end -------------------------------------------------------------------------------- */
typedef struct sg_err {
  char *buf;
  size_t len;
} sg_err;
void sg_errf(sg_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

sg_ptx_status sg_ptx_parse(const char *src, size_t len, sg_ptx_module *m, sg_err *e);

/* ---- run time --------------------------------------------------------------------------------- */
typedef struct sg_frame {
  uint32_t ret_pc;
  uint32_t fn;        /* function index of this frame */
  uint32_t reg_base;  /* slot index of this frame in the thread's register stack */
  uint32_t local_base; /* byte offset of this frame in the thread's local memory */
  uint32_t callsite;  /* call site that created it (for return copies) */
} sg_frame;

enum { TS_RUN = 0, TS_BAR, TS_WARP, TS_EXIT };

typedef struct sg_thread {
  uint64_t *regs;     /* register stack */
  uint32_t regcap;
  uint8_t *local;     /* local memory (frames) */
  uint32_t localcap;
  sg_frame *frames;
  uint32_t nframes, capframes;
  uint32_t pc;
  uint8_t state;
  uint8_t bar_id;
  uint32_t tid[3];
  uint32_t linear, lane, warp;
} sg_thread;

typedef struct sg_block_ctx {
  const sg_ptx_module *mod;
  const sg_func *entry;
  const sg_ptx_launch *launch;
  uint8_t *shared;
  uint32_t shared_size;
  uint32_t ctaid[3];
  sg_thread *thr;
  uint32_t nthreads, nwarps;
  uint8_t *mem_base;  /* arena */
  uint64_t mem_size;
  uint32_t arrived[16]; /* bar.arrive counts per barrier, not yet consumed by a bar.sync */
  int coop;             /* cooperative launch: threads yield soon in spin loops (ptx_sched.c) */
  /* The texture ([0]) and surface ([1]) last resolved in this launch, so a kernel sampling one
   * object asks the API layer once per worker rather than once per fetch (ptx_texture.c). */
  uint8_t tex_valid[2];
  uint64_t tex_handle[2];
  sg_ptx_tex tex_cache[2];
  int done;             /* cooperative launch: this block has ended */
  /* error report */
  sg_ptx_status status;
  char *err;
  size_t errlen;
} sg_block_ctx;

/* Whether the launch has been abandoned (sg_ptx_cancel): checked between blocks, between thread
 * slices and every SPIN_CHECK backward branches, never per instruction. */
static inline int sg_cancelled(const sg_ptx_launch *l) {
  return l->cancel && __atomic_load_n(&l->cancel->requested, __ATOMIC_RELAXED);
}

/* Resets t and pushes the entry frame. */
sg_ptx_status sg_thread_start(sg_block_ctx *bc, sg_thread *t);
/* Runs thread t until it exits, blocks at a collective, or fails. Returns SG_PTX_OK or an error
 * (already formatted into bc->err). */
sg_ptx_status sg_exec_thread(sg_block_ctx *bc, sg_thread *t);
/* Completes a warp collective for the lanes listed in `lanes` (all parked at the same pc). */
sg_ptx_status sg_exec_collective(sg_block_ctx *bc, sg_thread **lanes, int n);
sg_ptx_status sg_fail(sg_block_ctx *bc, const sg_thread *t, sg_ptx_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Host pointer for n bytes at address a of `space` for thread t, or NULL after recording an
 * illegal/misaligned address error against instruction `in`. */
uint8_t *sg_mem_at(sg_block_ctx *bc, sg_thread *t, const sg_insn *in, int space, uint64_t a, unsigned n);

/* Warp matrix instructions (ptx_tensor.c): runs the SG_OP_TENSOR all 32 lanes of a warp are
 * parked at (lanes[k] is lane k). Returns SG_PTX_OK or an error recorded in bc. */
sg_ptx_status sg_tensor_exec(sg_block_ctx *bc, sg_thread *const lanes[32]);
/* Whether the decoder's tc (kind, shape, types, register counts) is a form sg_tensor_exec runs. */
int sg_tc_supported(const sg_tc *tc);
/* cp.async: the copy happens at issue, so commit/wait have nothing left to wait for. */
sg_ptx_status sg_cp_async(sg_block_ctx *bc, sg_thread *t, const sg_insn *in, const uint64_t *r);

/* Texture and surface instructions (ptx_texture.c): runs `in` for thread t, registers r. */
sg_ptx_status sg_tex_exec(sg_block_ctx *bc, sg_thread *t, const sg_insn *in, uint64_t *r);

/* Device-runtime functions PTX calls but does not define (ptx_builtin.c). */
enum { SG_BI_NONE = 0, SG_BI_VPRINTF, SG_BI_ASSERTFAIL };
int sg_builtin_lookup(const char *name);
/* Whether name is a function of the CUDA device runtime (libcudadevrt: device-side launches,
 * streams, events, malloc; dynamic parallelism), which softgpu does not provide. */
int sg_builtin_is_device_runtime(const char *name);
/* Runs builtin in->aux for the call site in->imm; arguments are in the caller's frame. */
sg_ptx_status sg_builtin_call(sg_block_ctx *bc, sg_thread *t, const sg_insn *in);

/* Worker pool: calls fn(arg, worker, item) for item in [0, nitems) on every core; returns when all
 * are done or `stop` became non-zero. */
typedef void (*sg_pool_fn)(void *arg, int worker, uint64_t item);
int sg_pool_workers(void);
int sg_pool_run(sg_pool_fn fn, void *arg, uint64_t nitems, volatile int *stop);

/* Math helpers (ptx_math.c). */
uint16_t sg_f32_to_f16(float f, int rnd);
float sg_f16_to_f32(uint16_t h);
uint16_t sg_f32_to_bf16(float f, int rnd);
float sg_bf16_to_f32(uint16_t h);
uint16_t sg_f64_to_f16(double d, int rnd);
uint64_t sg_cvt(uint64_t v, int dt, int st, int rnd, int sat, int ftz);
float sg_round_f32(double v, int rnd);

#endif
