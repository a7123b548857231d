using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Ops;

/// <summary>
/// The ops as launches of generated kernels, for cuda, opencl and the emulator. Each op lives in
/// its own file (KernelOps.Gemm.cs, KernelOps.Attention.cs, KernelOps.Elementwise.cs).
/// </summary>
public sealed partial class KernelOps : ITransformerOps, IDisposable
{
    private readonly Lazy<DeviceBuffer<float>> _empty;

    public KernelOps(Device device, GemmVersion gemm = GemmVersion.RegisterBlocked)
    {
        if (device.Kind == DeviceKind.Cpu)
        {
            throw new ArgumentException("the cpu device runs managed ops (CpuOps), not kernels", nameof(device));
        }

        Device = device;
        GemmVersion = gemm;
        _empty = new Lazy<DeviceBuffer<float>>(() => device.Allocate<float>(1));
    }

    public Device Device { get; }

    /// <summary>The GEMM schedule Gemm launches; all three are kept for the comparison.</summary>
    public GemmVersion GemmVersion { get; }

    /// <summary>A one-element buffer passed where an optional buffer is absent (kernels never read it).</summary>
    private DeviceView<float> Empty => _empty.Value;

    private static int Groups(long count, int size) => checked((int)((count + size - 1) / size));

    public void Dispose()
    {
        if (_empty.IsValueCreated)
        {
            _empty.Value.Dispose();
        }

        DisposeScratch();
    }

    partial void DisposeScratch();
}
