using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Ops;

/// <summary>The ops for a device: managed ops on cpu, generated kernels everywhere else.</summary>
public static class TransformerOps
{
    public static ITransformerOps For(Device device, GemmVersion gemm = GemmVersion.RegisterBlocked) =>
        device.Kind == DeviceKind.Cpu ? new CpuOps(device) : new KernelOps(device, gemm);
}
