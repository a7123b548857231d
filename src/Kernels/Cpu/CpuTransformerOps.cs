using GpuViT.Kernels.Ops;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Cpu;

/// <summary>
/// The ops as managed code on all cores with SIMD: the cpu backend's cores behind
/// <see cref="TransformerOps"/>'s checks, and the reference the other backends are tested
/// against. Each op family lives in its own file (CpuTransformerOps.Gemm.cs, ...).
/// </summary>
public sealed unsafe partial class CpuTransformerOps : TransformerOps
{
    public CpuTransformerOps(Device device)
        : base(HostViews.RequireHostDevice(device), Precision.Fp32)
    {
    }

    private float* Pointer(DeviceView<float> view) => HostViews.Pointer(Device, view);

    private float* Pointer(DeviceView<float>? view) => view is { } v ? Pointer(v) : null;
}
