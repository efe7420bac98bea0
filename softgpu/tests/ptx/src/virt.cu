// nvcc -ptx -arch=sm_80 virt.cu -o ../virt.ptx
// Virtual functions: vtables initialised with function addresses, indirect calls with prototypes.
struct B { __device__ virtual int f(int x) { return x + 1; } };
struct D : B { __device__ int f(int x) override { return x * 2; } };
extern "C" __global__ void vk(int *o, int sel) { B b; D d; B *p = sel ? (B *)&d : &b; o[0] = p->f(21); }
extern "C" __global__ void ok(int *o) { o[1] = 5; }
