using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Ops;

public sealed partial class KernelOps
{
    public void Attention(
        DeviceView<float> qkv, DeviceView<float> output, int batch, int tokens, int heads, int headSize,
        bool fused = true, DeviceStream? stream = null) =>
        throw new NotImplementedException("attention kernels: being written");
}
