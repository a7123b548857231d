using System.Runtime.InteropServices;

namespace GpuViT.Kernels.Cpu;

/// <summary>
/// A GEMM weight W [n, k] packed once into the NR-column panels the micro-kernel reads (what
/// <see cref="CpuGemm"/> otherwise does on every call), for a weight applied to many inputs: a
/// model's linear layers, packed when the model loads. A copy: later changes to W are not seen.
/// The panels are native memory, 64-byte aligned, freed by <see cref="Dispose"/> (or, failing
/// that, by the finalizer). Made by <see cref="CpuGemm.PackWeight(int, int, ReadOnlySpan{float}, int)"/>.
/// </summary>
public sealed unsafe class PackedGemmWeight : IDisposable
{
    private nint _panels;

    internal PackedGemmWeight(CpuGemm.Tuning tuning, int n, int k)
    {
        Tuning = tuning;
        N = n;
        K = k;
        Panels = (n + tuning.NR - 1) / tuning.NR;
        Bytes = (long)Panels * tuning.NR * k * sizeof(float);
        _panels = (nint)NativeMemory.AlignedAlloc((nuint)Math.Max(Bytes, 64), 64);
        if (Bytes > 0)
        {
            GC.AddMemoryPressure(Bytes);
        }
    }

    ~PackedGemmWeight() => Free();

    /// <summary>Rows of W: output features.</summary>
    public int N { get; }

    /// <summary>Columns of W: input features.</summary>
    public int K { get; }

    /// <summary>Bytes of packed panels (W padded to a whole number of panels).</summary>
    public long Bytes { get; }

    public bool IsDisposed => Volatile.Read(ref _panels) == 0;

    /// <summary>The micro-kernel and blocking the panels are laid out for.</summary>
    internal CpuGemm.Tuning Tuning { get; }

    /// <summary>Number of NR-column panels; panel j holds W's rows [j·NR, j·NR + NR) as [p·NR + column], p &lt; K.</summary>
    internal int Panels { get; }

    /// <summary>The first panel; throws once disposed.</summary>
    internal float* Pointer
    {
        get
        {
            nint panels = Volatile.Read(ref _panels);
            ObjectDisposedException.ThrowIf(panels == 0, this);
            return (float*)panels;
        }
    }

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    public override string ToString() => $"PackedGemmWeight [n={N}, k={K}] in {Tuning.Name} panels";

    private void Free()
    {
        nint panels = Interlocked.Exchange(ref _panels, 0);
        if (panels != 0)
        {
            NativeMemory.AlignedFree((void*)panels);
            if (Bytes > 0)
            {
                GC.RemoveMemoryPressure(Bytes);
            }
        }
    }
}
