using GpuViT.Kernels.Cpu;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Ops;

public sealed unsafe partial class CpuOps
{
    public void Gemm(
        DeviceView<float> x, DeviceView<float> w, DeviceView<float>? bias, DeviceView<float>? residual, DeviceView<float> y,
        int m, int n, int k, Activation activation = Activation.None, DeviceStream? stream = null) =>
        throw new NotImplementedException("GEMM kernels: being written");
}
