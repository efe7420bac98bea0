# Everyday PyTorch on the vGPU, one step per key of the JSON printed on the last line
# (test/e2e/torch.test.ts). Each step records its value or the exception it raised, so one
# failure does not hide the others. Usage: everyday.py basics | quota QUOTA_MIB | expandable QUOTA_MIB
# | multiprocessing (expandable: run with PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True)
import json
import sys

import torch

MIB = 1 << 20
out = {}


def step(name, f):
    try:
        out[name] = f()
    except Exception as e:  # the test reports what was raised
        out[name] = {"error": type(e).__name__, "message": str(e)[:400]}


def basics():
    step("available", torch.cuda.is_available)
    step("zeros", lambda: torch.zeros(1000, device="cuda").sum().item())

    def add():
        a = torch.arange(1000, dtype=torch.float32)
        b = torch.arange(1000, dtype=torch.float32) * 3
        return torch.equal((a.cuda() + b.cuda()).cpu(), a + b)

    step("add", add)

    def matmul():
        g = torch.Generator().manual_seed(1)
        a = torch.rand(64, 48, generator=g)
        b = torch.rand(48, 32, generator=g)
        return (a.cuda() @ b.cuda()).cpu().sub(a @ b).abs().max().item()

    step("matmul_max_error", matmul)

    def reductions():
        # Reductions whose kernels PyTorch ships. Those it compiles at run time with NVRTC (the
        # jiterator: prod, some complex ops) fail on any device newer than NVRTC 12.4 knows (sm_100
        # and up), softgpu's default 12.0 as on a real GPU of that capability (docs/compatibility.md).
        g = torch.Generator().manual_seed(2)
        x = torch.rand(300, 257, generator=g)
        d = x.cuda()
        ints = torch.arange(-500, 500, dtype=torch.int64).reshape(40, 25)
        di = ints.cuda()

        def error(got, want):
            return (got.cpu() - want).abs().max().item()

        return {
            # Floats may be added in another order on the device: compared with a tolerance.
            "sum_error": abs(d.sum().item() - x.sum().item()) / x.sum().item(),
            "mean_rows_error": error(d.mean(dim=1), x.mean(dim=1)),
            "std_error": error(d.std(dim=0), x.std(dim=0)),
            "norm_error": error(d.norm(dim=1), x.norm(dim=1)),
            "softmax_error": error(torch.softmax(d, dim=1), torch.softmax(x, dim=1)),
            "logsumexp_error": error(torch.logsumexp(d, dim=1), torch.logsumexp(x, dim=1)),
            # These are exact whatever the order.
            "max": torch.equal(d.max(dim=0).values.cpu(), x.max(dim=0).values),
            "argmin": torch.equal(d.argmin(dim=1).cpu(), x.argmin(dim=1)),
            "int_sum": torch.equal(di.sum(dim=0).cpu(), ints.sum(dim=0)),
            "int_mod_sum": torch.equal((di % 3).sum(dim=1).cpu(), (ints % 3).sum(dim=1)),
            "amax": torch.equal(di.abs().amax(dim=1).cpu(), ints.abs().amax(dim=1)),
            "any": torch.equal((di > 400).any(dim=1).cpu(), (ints > 400).any(dim=1)),
            "cumsum": torch.equal(di.cumsum(dim=1).cpu(), ints.cumsum(dim=1)),
        }

    step("reductions", reductions)

    def linear():
        torch.manual_seed(3)
        layer = torch.nn.Linear(96, 40)
        x = torch.randn(17, 96)
        want = layer(x)
        got = layer.cuda()(x.cuda()).cpu()
        return (got - want).abs().max().item()

    step("linear_max_error", linear)

    def pinned():
        x = torch.arange(1 << 16, dtype=torch.float32).pin_memory()
        y = x.to("cuda", non_blocking=True)
        z = torch.empty(1 << 16, dtype=torch.float32).pin_memory()
        z.copy_(y * 2, non_blocking=True)
        torch.cuda.synchronize()
        return {"is_pinned": x.is_pinned(), "to_device": torch.equal(y.cpu(), x), "back_into_pinned": torch.equal(z, x * 2)}

    step("pinned", pinned)

    def oom():
        try:
            torch.empty(1 << 40, dtype=torch.uint8, device="cuda")
            return "allocated"
        except torch.OutOfMemoryError as e:
            return {"raised": "OutOfMemoryError", "is_cuda_oom": isinstance(e, torch.cuda.OutOfMemoryError)}

    step("oom", oom)
    step("after_oom", lambda: (torch.ones(10, device="cuda") * 2).sum().item())


def quota(quota_mib):
    step("total_mib", lambda: torch.cuda.mem_get_info()[1] // MIB)
    held = []

    def within():
        held.append(torch.empty(quota_mib // 2 * MIB, dtype=torch.uint8, device="cuda"))
        return "allocated"

    step("half", within)

    def past():
        try:
            held.append(torch.empty(quota_mib // 2 * MIB + 64 * MIB, dtype=torch.uint8, device="cuda"))
            return "allocated"
        except torch.OutOfMemoryError:
            return "OutOfMemoryError"

    step("past_quota", past)

    def again():
        held.clear()
        torch.cuda.empty_cache()
        held.append(torch.empty(quota_mib // 2 * MIB + 64 * MIB, dtype=torch.uint8, device="cuda"))
        return "allocated"

    step("after_freeing", again)

    def fraction():
        # PyTorch's own limit, below the quota: its allocator refuses before asking the driver.
        held.clear()
        torch.cuda.empty_cache()
        torch.cuda.set_per_process_memory_fraction(0.25)
        try:
            held.append(torch.empty(quota_mib // 2 * MIB, dtype=torch.uint8, device="cuda"))
            return "allocated"
        except torch.OutOfMemoryError:
            held.append(torch.empty(quota_mib // 8 * MIB, dtype=torch.uint8, device="cuda"))
            return "OutOfMemoryError, then allocated within the fraction"

    step("memory_fraction", fraction)


def expandable(quota_mib):
    # PyTorch's expandable segments: one reserved range per segment, grown by cuMemCreate and
    # cuMemMap of 2 MiB (small) or 20 MiB (large) pages, which a VM's quota must count.
    held = []

    def grow():
        for mib in (1, 3, 7, 30, 60):
            held.append(torch.full((mib * MIB // 4,), float(mib), device="cuda"))
        return [round(t.sum().item() / (t.numel())) for t in held]

    step("grow", grow)
    step("segments_expandable", lambda: all(s.get("is_expandable", False) for s in torch.cuda.memory_snapshot()))

    def matmul():
        g = torch.Generator().manual_seed(2)
        a = torch.rand(128, 96, generator=g)
        b = torch.rand(96, 64, generator=g)
        return (a.cuda() @ b.cuda()).cpu().sub(a @ b).abs().max().item()

    step("matmul_max_error", matmul)

    def past():
        try:
            held.append(torch.empty(quota_mib * MIB, dtype=torch.uint8, device="cuda"))
            return "allocated"
        except torch.OutOfMemoryError:
            return "OutOfMemoryError"

    step("past_quota", past)

    def again():
        held.clear()
        torch.cuda.empty_cache()
        t = torch.ones(quota_mib // 2 * MIB // 4, device="cuda")
        return t.sum().item() == t.numel()

    step("after_freeing", again)


def child(tensors, results):
    """The second process of multiprocessing(): it receives the parent's CUDA tensor (CUDA IPC:
    a memory handle and an event handle), reads it, changes it in place and reports."""
    t = tensors.get()
    seen = t.sum().item()
    t.mul_(2).add_(1)
    torch.cuda.synchronize()
    results.put({"seen_sum": seen, "device": str(t.device)})
    # The parent owns the memory: wait until it has looked before dropping the tensor.
    tensors.get()


def multiprocessing():
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")  # CUDA cannot be used in a forked child

    def share():
        t = torch.arange(1000, dtype=torch.float32, device="cuda")
        tensors, results = ctx.Queue(), ctx.Queue()
        p = ctx.Process(target=child, args=(tensors, results))
        p.start()
        tensors.put(t)
        got = results.get(timeout=280)
        torch.cuda.synchronize()
        parent_sees = torch.equal(t.cpu(), torch.arange(1000, dtype=torch.float32) * 2 + 1)
        tensors.put(None)
        p.join(timeout=60)
        return {"child": got, "parent_sees_child_writes": parent_sees, "child_exit": p.exitcode}

    step("share", share)


if __name__ == "__main__":
    if sys.argv[1] == "basics":
        basics()
    elif sys.argv[1] == "expandable":
        expandable(int(sys.argv[2]))
    elif sys.argv[1] == "multiprocessing":
        multiprocessing()
    else:
        quota(int(sys.argv[2]))
    print(json.dumps(out))
