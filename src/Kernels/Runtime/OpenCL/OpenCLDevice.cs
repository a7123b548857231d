namespace GpuViT.Kernels.Runtime.OpenCL;

/// <summary>An OpenCL device behind the <see cref="Device"/> API. (Being written.)</summary>
internal sealed class OpenCLDevice
{
    public static DeviceDiscovery Discover() => throw new NotImplementedException();

    public static Device Open(int platform, int device, KernelCache cache) => throw new NotImplementedException();
}
