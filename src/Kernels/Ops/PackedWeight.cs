using GpuViT.Kernels.Cpu;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Ops;

/// <summary>
/// A GEMM weight W [n, k] (out × in, as PyTorch stores a Linear weight) held in the form one
/// <see cref="TransformerOps"/> reads fastest, made once by <see cref="TransformerOps.PackWeight"/>
/// for a weight applied in many calls (a model's linear layers): the cpu backend's micro-kernel
/// panels (<see cref="PackedGemmWeight"/>), or a device buffer of W as is for the kernels, which
/// read W directly. It is a copy of the host data it was made from and owns its memory; dispose
/// it to release that memory.
/// </summary>
public abstract class PackedWeight : IDisposable
{
    private int _disposed;

    private protected PackedWeight(Device device, int n, int k)
    {
        Device = device;
        N = n;
        K = k;
    }

    /// <summary>The device whose ops made it; only those ops' Gemm takes it.</summary>
    public Device Device { get; }

    /// <summary>Rows of W: output features.</summary>
    public int N { get; }

    /// <summary>Columns of W: input features.</summary>
    public int K { get; }

    /// <summary>Bytes it holds (W padded to whole panels on the cpu backend).</summary>
    public abstract long Bytes { get; }

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            DisposeCore();
        }

        GC.SuppressFinalize(this);
    }

    public override string ToString() => $"{GetType().Name} [n={N}, k={K}] on {Device.Info.Id}";

    protected abstract void DisposeCore();

    /// <summary>Checks that W [n, k] is in host memory of n·k values.</summary>
    internal static void CheckHostWeight(ReadOnlySpan<float> w, int n, int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        if (w.Length != (long)n * k)
        {
            throw new ArgumentException($"w holds {w.Length} values; W [n={n}, k={k}] is {(long)n * k}", nameof(w));
        }
    }

    /// <summary>Checks that this weight belongs to <paramref name="device"/> and is alive; <paramref name="name"/> is the argument's.</summary>
    internal void CheckOwner(Device device, string name)
    {
        if (!ReferenceEquals(Device, device))
        {
            throw new ArgumentException($"{this} was packed by other ops than the ones on {device.Info.Id}", name);
        }

        ObjectDisposedException.ThrowIf(IsDisposed, this);
    }

    /// <summary>
    /// This weight as the backend's <typeparamref name="T"/>. Only the type is tested: the op's front
    /// has already run <see cref="CheckOwner"/>, so the weight is alive and of this device.
    /// </summary>
    internal T As<T>(string name)
        where T : PackedWeight =>
        this as T ?? throw new ArgumentException($"{this} was packed by other ops: these read a {typeof(T).Name}", name);
}
