using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Cpu;

/// <summary>What the managed ops need of a view: its address in this process's memory.</summary>
internal static unsafe class HostViews
{
    /// <summary>The device, checked to keep its buffers in this process's memory (cpu or emulator).</summary>
    public static Device RequireHostDevice(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (device.Kind is not (DeviceKind.Cpu or DeviceKind.Emulator))
        {
            throw new ArgumentException($"managed ops run on host memory (cpu or emulator), not on {device.Info.Id}", nameof(device));
        }

        return device;
    }

    /// <summary>The address of a view's first element; the view must be of <paramref name="device"/> and alive.</summary>
    public static float* Pointer(Device device, DeviceView<float> view)
    {
        if (!ReferenceEquals(view.Buffer.Device, device))
        {
            throw new ArgumentException($"{view.Buffer} is not on {device.Info.Id}", nameof(view));
        }

        view.Buffer.ThrowIfDisposed();
        return (float*)((IHostMemory)view.Buffer.Memory).Pointer + view.Offset;
    }
}
