using GpuViT.Kernels.Cpu;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Ops;

public sealed unsafe partial class CpuOps
{
    public void LayerNorm(DeviceView<float> x, DeviceView<float> gamma, DeviceView<float> beta, DeviceView<float> y, int rows, int cols, float eps, DeviceStream? stream = null) =>
        throw new NotImplementedException();

    public void Softmax(DeviceView<float> x, DeviceView<float> y, int rows, int cols, DeviceStream? stream = null) =>
        throw new NotImplementedException();

    public void Gelu(DeviceView<float> x, DeviceView<float> y, int n, Activation activation = Activation.Gelu, DeviceStream? stream = null) =>
        throw new NotImplementedException();

    public void PatchEmbed(
        DeviceView<float> images, DeviceView<float> weight, DeviceView<float> bias, DeviceView<float> tokens,
        int batch, int channels, int imageSize, int patchSize, int dim, int prefix, DeviceStream? stream = null) =>
        throw new NotImplementedException();

    public void ClassTokenAndPositions(
        DeviceView<float> tokens, DeviceView<float>? classToken, DeviceView<float> positions, int batch, int tokenCount, int dim,
        DeviceStream? stream = null) =>
        throw new NotImplementedException();

    public void Add(DeviceView<float> a, DeviceView<float> b, DeviceView<float> c, int n, DeviceStream? stream = null) =>
        throw new NotImplementedException();

    public void Pool(DeviceView<float> tokens, DeviceView<float> output, int batch, int tokenCount, int dim, PoolMode mode, int prefix, DeviceStream? stream = null) =>
        throw new NotImplementedException();
}
