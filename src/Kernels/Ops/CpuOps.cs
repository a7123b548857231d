using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Ops;

/// <summary>
/// The ops as managed code on all cores with SIMD: the cpu backend, and the reference the other
/// backends are tested against. Each op lives in its own file (CpuOps.Gemm.cs, ...).
/// </summary>
public sealed unsafe partial class CpuOps : ITransformerOps
{
    public CpuOps(Device device)
    {
        if (device.Kind is not (DeviceKind.Cpu or DeviceKind.Emulator))
        {
            throw new ArgumentException($"managed ops run on host memory (cpu or emulator), not on {device.Info.Id}", nameof(device));
        }

        Device = device;
    }

    public Device Device { get; }

    /// <summary>The address of a view's first element; the view must be of this device and alive.</summary>
    private float* Pointer(DeviceView<float> view)
    {
        if (!ReferenceEquals(view.Buffer.Device, Device))
        {
            throw new ArgumentException($"{view.Buffer} is not on {Device.Info.Id}", nameof(view));
        }

        view.Buffer.ThrowIfDisposed();
        return (float*)((IHostMemory)view.Buffer.Memory).Pointer + view.Offset;
    }

    private float* Pointer(DeviceView<float>? view) => view is { } v ? Pointer(v) : null;

    /// <summary>Checks that a view holds at least <paramref name="elements"/>.</summary>
    private static void Require(DeviceView<float> view, long elements, string name)
    {
        if (view.Length < elements)
        {
            throw new ArgumentException($"'{name}' has {view.Length} elements; the op needs {elements}", name);
        }
    }
}
