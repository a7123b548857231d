namespace GpuViT.Kernels.Runtime.Cuda;

/// <summary>A CUDA device behind the <see cref="Device"/> API. (Being written.)</summary>
internal sealed class CudaDevice
{
    public static DeviceDiscovery Discover() => throw new NotImplementedException();

    public static Device Open(int ordinal, KernelCache cache) => throw new NotImplementedException();
}
